"""`make demo`: the embedded default experiment, end to end.

Trains `resnet_digits` (a quarter-width ResNet-18 on the scikit-learn digits)
with checkpoints, summaries and validation, exports the best model as a
preset, reloads it with `zoo.from_preset`, predicts held-out digits and
prints a short result table. A second run with the same `--model_dir`
resumes from its checkpoints (and finds the training already done).
"""

import argparse
import logging
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    """Runs the demo; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", default="runs/demo_digits")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import keras
    import numpy as np

    import training
    import zoo
    from training.data.readers import digits_arrays

    config = training.get_experiment("resnet_digits")
    start = time.time()
    results = training.run_experiment(config, mode="train_and_eval",
                                      model_dir=args.model_dir)
    elapsed = time.time() - start

    export = os.path.join(args.model_dir,
                          config.trainer.best_checkpoint_export_subdir,
                          "preset")
    model = zoo.from_preset(export)
    images, labels = digits_arrays(is_training=False)
    logits = model.predict(images, verbose=0)
    predicted = np.argmax(logits, axis=-1)
    accuracy = float(np.mean(predicted == labels))

    print()
    print("resnet_digits on", keras.backend.backend())
    print(f"  model dir            {os.path.abspath(args.model_dir)}")
    print(f"  training             {config.trainer.train_steps} steps, "
          f"{elapsed:.1f} s")
    print(f"  validation top-1     {results.get('val_accuracy', float('nan')):.4f}")
    print(f"  exported preset      {export}")
    print(f"  reloaded top-1       {accuracy:.4f} on {len(labels)} held-out "
          "digits (raw 8x8 images through the preset's preprocessor)")
    print()
    print("  digit  predicted  confidence")
    probabilities = keras.ops.convert_to_numpy(
        keras.ops.softmax(logits[:8]))
    for label, guess, p in zip(labels[:8], predicted[:8], probabilities):
        mark = "" if label == guess else "  <- wrong"
        print(f"  {label:5d}  {guess:9d}  {p[guess]:10.3f}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
