"""Peers: the models of other libraries a zoo family is measured against.

Each family declares its peers in one module here, next to nothing else:

```python
@register_peer("resnet", "keras.applications")
def keras_applications_resnet(name, zoo_model):
    ...
    return peer_model, "keras.applications.ResNet50"
```

A builder gets the zoo model's registered name and the built zoo model
(whose input shape, classes and options it copies) and returns the peer
with random weights and a description of what was built; it raises
`BenchError` when the library has no counterpart. Modules are found by
importing the package's files, so a family adds one.
"""

import importlib
import pkgutil

from benchmarks.errors import BenchError
from zoo.registry import table_decorator

_PEERS = {}


def register_peer(family, source):
    """Registers a peer builder of zoo `family` from library `source`."""
    return table_decorator(_PEERS, (family, source))


def _discover():
    if not getattr(_discover, "done", False):
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
        _discover.done = True


def zoo_family(zoo_model):
    """The zoo family of a built model: its own `family` when the task
    model has one (a detector is `retinanet` whatever its backbone), else
    its backbone's."""
    own = getattr(type(zoo_model), "peer_family", None)
    if own:
        return own
    backbone = getattr(zoo_model, "backbone", None) or zoo_model
    return getattr(backbone, "family", None)


def find_peer(source, name, zoo_model):
    """The builder of `source`'s counterpart of a zoo model.

    Raises:
        BenchError: `source` has no counterpart of the model's family; the
            message lists the families it has.
    """
    _discover()
    family = zoo_family(zoo_model)
    builder = _PEERS.get((family, source))
    if builder is None:
        families = sorted(f for f, s in _PEERS if s == source)
        raise BenchError(
            f"{source} has no counterpart of zoo model {name!r} (family "
            f"{family!r}); it has peers for the families {families}.")
    return builder
