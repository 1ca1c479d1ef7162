"""Text task models: shapes, a few training steps on tiny data, presets."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from nlp_helpers import ENCODER_CONFIG
from training.data.text import IGNORE_LABEL, mask_tokens


def _encoder(**overrides):
    # One layer: what the heads need, and half the compile time.
    return zoo.BertEncoder(**{**ENCODER_CONFIG, "num_layers": 1,
                              **overrides})


def _preprocessor(vocabulary, length=16):
    return zoo.TextPreprocessor(zoo.WordPieceTokenizer(vocabulary),
                                sequence_length=length)


POSITIVE = ["good movie", "great film !", "fun movie", "a great great film"]
NEGATIVE = ["bad movie", "awful film .", "boring movie", "a bad boring film"]


def _losses(history):
    return history.history["loss"]


def test_text_classifier_learns_from_raw_strings(tiny_vocabulary):
    model = zoo.TextClassifier(_encoder(), num_classes=2, dropout=0.0,
                               preprocessor=_preprocessor(tiny_vocabulary))
    texts = POSITIVE + NEGATIVE
    labels = np.array([1] * 4 + [0] * 4)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])
    dataset = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(8)
    history = model.fit(dataset.repeat(), epochs=15, steps_per_epoch=1,
                        verbose=0)
    assert _losses(history)[-1] < 0.5 * _losses(history)[0]
    assert history.history["accuracy"][-1] == 1.0
    logits = model.predict(["good film", "awful movie"], verbose=0)
    assert logits.shape == (2, 2)
    assert logits[0, 1] > logits[0, 0] and logits[1, 0] > logits[1, 1]


def test_text_classifier_on_pairs_for_regression(tiny_vocabulary):
    preprocessor = _preprocessor(tiny_vocabulary)
    model = zoo.TextClassifier(_encoder(), num_classes=1,
                               preprocessor=preprocessor)
    assert tuple(model.output.shape) == (None, 1)
    firsts = ["the man plays", "a man is playing", "the stock fell"]
    seconds = ["someone plays", "the market fell", "the market fell"]
    # A pair is one packed example: [CLS] first [SEP] second [SEP].
    packed = {k: np.asarray(v)
              for k, v in preprocessor((firsts, seconds)).items()}
    assert packed["segment_ids"][0].tolist()[:8] == [0, 0, 0, 0, 0, 1, 1, 1]
    alone = {k: np.asarray(v) for k, v in preprocessor(firsts).items()}
    scores = np.asarray(model(packed))
    assert scores.shape == (3, 1)
    pooled_pair = np.asarray(model.backbone(packed)["pooled_output"])
    pooled_alone = np.asarray(model.backbone(alone)["pooled_output"])
    assert np.max(np.abs(pooled_pair - pooled_alone)) > 1e-3
    # predict on raw pairs packs them as pairs, like the direct call.
    predicted = model.predict((firsts, seconds), batch_size=2, verbose=0)
    np.testing.assert_allclose(predicted, scores, atol=1e-5)


def test_span_labeler_finds_the_answer_tokens(tiny_vocabulary):
    preprocessor = _preprocessor(tiny_vocabulary)
    questions = ["where is the eiffel tower ?", "where does john live ?",
                 "what is the capital of france ?", "where is the market ?"]
    contexts = ["the eiffel tower is in paris", "john lives in new york",
                "paris is the capital of france", "the market is in london"]
    answers = [("paris", "paris"), ("new", "york"), ("paris", "paris"),
               ("london", "london")]
    features = preprocessor((questions, contexts))
    token_ids = np.asarray(features["token_ids"])
    vocabulary = {t: i for i, t in enumerate(tiny_vocabulary)}
    starts, ends = [], []
    for row, (first, last) in zip(token_ids, answers):
        second = np.where(row == 3)[0][0]  # the context follows [SEP]
        starts.append(second + list(row[second:]).index(vocabulary[first]))
        ends.append(second + list(row[second:]).index(vocabulary[last]))
    model = zoo.SpanLabeler(_encoder())
    x = {k: np.asarray(v) for k, v in features.items()}
    outputs = model(x)
    assert tuple(outputs["start_logits"].shape) == (4, 16)
    # Padding can never be the answer.
    padded = x["padding_mask"] == 0
    assert np.all(np.asarray(outputs["end_logits"])[padded] < -1e8)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss={"start_logits": loss, "end_logits": loss})
    y = {"start_logits": np.array(starts), "end_logits": np.array(ends)}
    history = model.fit(x, y, batch_size=4, epochs=30, verbose=0)
    assert _losses(history)[-1] < 0.3 * _losses(history)[0]
    predicted = model(x)
    assert np.argmax(predicted["start_logits"], -1).tolist() == starts
    assert np.argmax(predicted["end_logits"], -1).tolist() == ends


def test_token_classifier_tags_tokens(tiny_vocabulary):
    preprocessor = _preprocessor(tiny_vocabulary)
    texts = ["the man plays a guitar", "a film is fun", "the market fell",
             "someone plays the instrument"]
    x = {k: np.asarray(v) for k, v in preprocessor(texts).items()}
    articles = {tiny_vocabulary.index("the"), tiny_vocabulary.index("a")}
    tags = np.isin(x["token_ids"], list(articles)).astype("int32")
    model = zoo.TokenClassifier(_encoder(), num_classes=2, dropout=0.0)
    assert tuple(model(x).shape) == (4, 16, 2)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=["accuracy"])
    weights = x["padding_mask"].astype("float32")
    history = model.fit(x, tags, sample_weight=weights, batch_size=4,
                        epochs=12, verbose=0)
    assert _losses(history)[-1] < 0.3 * _losses(history)[0]
    predicted = np.argmax(model(x), -1)
    real = x["padding_mask"] == 1
    np.testing.assert_array_equal(predicted[real], tags[real])


def test_masked_lm_with_dynamic_masking(tiny_vocabulary):
    tokenizer = zoo.WordPieceTokenizer(tiny_vocabulary)
    preprocessor = zoo.TextPreprocessor(tokenizer, sequence_length=16)
    encoder = _encoder()
    model = zoo.MaskedLM(encoder)
    assert model.num_classes == len(tiny_vocabulary)
    # The output embedding is the input one: no new vocabulary matrix.
    head = [w for w in model.trainable_weights
            if w.path.startswith("masked_lm_head")]
    assert sorted(tuple(w.shape) for w in head) == [
        (32,), (32,), (32,), (32, 32), (len(tiny_vocabulary),)]
    texts = POSITIVE + NEGATIVE

    def mask(number, features):
        masked, positions, labels = mask_tokens(
            features["token_ids"], features["padding_mask"],
            tf.stack([tf.constant(0, tf.int64), number]),
            vocabulary_size=len(tiny_vocabulary),
            mask_token_id=tokenizer.mask_token_id,
            special_token_ids=tokenizer.special_token_ids,
            max_predictions=4, selection_rate=0.3)
        features = dict(features, token_ids=masked, mask_positions=positions)
        return features, labels, tf.cast(labels != IGNORE_LABEL, tf.float32)

    # New masks every batch: the stateless seed is the batch's number.
    dataset = (tf.data.Dataset.from_tensor_slices(texts * 4).batch(8)
               .map(preprocessor).repeat().enumerate().map(mask))
    features, labels, weights = next(iter(dataset))
    assert tuple(features["mask_positions"].shape) == (8, 4)
    assert tuple(model.output.shape) == (None, None, len(tiny_vocabulary))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=IGNORE_LABEL),
        weighted_metrics=["accuracy"])
    history = model.fit(dataset, epochs=20, steps_per_epoch=1, verbose=0)
    assert _losses(history)[-1] < 0.6 * _losses(history)[0]


def test_task_preset_round_trip_with_vocabulary(tiny_vocabulary, tmp_path):
    model = zoo.TextClassifier(_encoder(), num_classes=3,
                               preprocessor=_preprocessor(tiny_vocabulary))
    model.save_to_preset(tmp_path / "clf")
    assert (tmp_path / "clf" / "assets" / "vocab.txt").read_text().split(
        "\n")[:5] == tiny_vocabulary[:5]
    again = zoo.from_preset(tmp_path / "clf")
    assert isinstance(again, zoo.TextClassifier)
    texts = ["good movie", "the market fell"]
    np.testing.assert_allclose(again.predict(texts, verbose=0),
                               model.predict(texts, verbose=0), atol=1e-6)
    # The encoder of the saved classifier, under another task's new head.
    spans = zoo.from_preset(tmp_path / "clf", task="span_labeler")
    assert isinstance(spans, zoo.SpanLabeler)
    np.testing.assert_array_equal(
        np.asarray(spans.backbone.get_layer("pooler").kernel),
        np.asarray(model.backbone.get_layer("pooler").kernel))
    with pytest.raises(zoo.PresetError, match="needs num_classes"):
        zoo.from_preset(tmp_path / "clf", task="token_classifier")
    with pytest.raises(zoo.PresetError, match="'text_clasifier'"):
        zoo.from_preset(tmp_path / "clf", task="text_clasifier")


def test_tasks_refuse_a_per_layer_encoder():
    with pytest.raises(ValueError, match="features_only"):
        zoo.TextClassifier(_encoder(features_only=True), num_classes=2)
    with pytest.raises(TypeError, match="TextEncoder"):
        zoo.SpanLabeler(zoo.create_model("resnet18", features_only=True,
                                         input_shape=(32, 32, 3)))


def test_encoder_preset_keeps_its_tokenizer(tiny_vocabulary, tmp_path):
    encoder = _encoder()
    encoder.preprocessor = _preprocessor(tiny_vocabulary)
    encoder.save_to_preset(tmp_path / "encoder")
    assert (tmp_path / "encoder" / "preprocessor.json").is_file()
    again = zoo.from_preset(tmp_path / "encoder")
    assert isinstance(again, zoo.BertEncoder)
    assert again.preprocessor.tokenizer.get_vocabulary() == tiny_vocabulary
    texts = ["the man plays a guitar", "good movie"]
    np.testing.assert_allclose(again.embed(texts), encoder.embed(texts),
                               atol=1e-6)
