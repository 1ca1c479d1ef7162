"""timm model repositories: `config.json` (`architecture`, `num_classes`,
`pretrained_cfg`) and `model.safetensors`, read by the family's timm
converter (`zoo/convert/timm/`), with timm's evaluation preprocessing."""

from zoo.presets import loading
from zoo.presets.formats import PresetFormat, register_format

WEIGHTS_FILE = "model.safetensors"


@register_format
class TimmFormat(PresetFormat):
    """`config.json` has a timm `architecture`."""

    name = "timm"

    def detects(self, config):
        return "architecture" in config and "model_type" not in config

    def fetch(self, handle, config, fetch):
        fetch(WEIGHTS_FILE)

    def load(self, path, config, options):
        from zoo.convert import timm
        from zoo.registry import create_model

        architecture, arguments = timm.zoo_model_for(config)
        head_classes = int(config.get("num_classes", 1000))
        plan = loading.plan_model(options, default_task="image_classifier",
                                  head_classes=head_classes,
                                  source=str(path))
        model = create_model(architecture, task=plan.task,
                             **{**arguments, **plan.backbone_kwargs,
                                **plan.head_kwargs,
                                "num_classes": plan.num_classes})
        if options.load_weights:
            loading.load_converted(model, path / WEIGHTS_FILE, "timm",
                                   include_head=plan.include_head,
                                   source=str(path))
            loading.say_new_head(plan, model, str(path), head_classes)
        return loading.attach_image_preprocessor(
            model, timm.preprocessing(config.get("pretrained_cfg", {})))
