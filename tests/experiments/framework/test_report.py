"""``experiments.framework.report``: captions filled from the saved config."""

from experiments.framework import report
from experiments.protocols import layer_training, training_width


def test_caption_prints_the_configured_learning_rate_factor():
    # REPORT's fig4 caption must state the factor the run used, not η = n/λ_max.
    text = report._caption(layer_training.CAPTION, {"lr_factor": 0.8})
    assert "η = 0.8·n/λ_max" in text
    assert "{lr_factor}" in layer_training.CAPTION and "{" not in text


def test_caption_leaves_braces_that_name_no_config_field():
    assert report._caption("slope m^{-1/2}; {missing}", {"lr_factor": 1.0}) == (
        "slope m^{-1/2}; {missing}"
    )
    text = report._caption(training_width.CAPTION, {"lr_factor": 0.5})
    assert "m^{-1/2}" in text
