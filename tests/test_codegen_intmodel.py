import math

import numpy as np
import pytest
from helpers import whole

from bs4nn.codegen.intmodel import IntModel
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import model_from_arrays
from bs4nn.trainer.semantics import threshold_count


def tiny(alphas=(5.0, 5.0), thetas=(100.0, 100.0), w0=None, weight_kind="binary"):
    rng = np.random.default_rng(1)
    w0 = rng.normal(size=(6, 4)) if w0 is None else w0
    w1 = rng.normal(size=(3, 6))
    return model_from_arrays([w0, w1], list(alphas), list(thetas), weight_kind=weight_kind)


def test_thresholds_at_exact_ratios():
    assert threshold_count(100, 5) == 20  # theta/alpha an integer
    assert threshold_count(100, 5 * (1 + 1e-12)) == 20  # just below 20 -> 20
    assert threshold_count(100, 5 * (1 - 1e-12)) == 21  # just above 20 -> 21
    # float division says exactly 254 here, the exact ratio is a hair above: K must be 255
    theta, alpha = 3866.296375545806, 15.221639273802385
    assert math.ceil(theta / alpha) == 254
    assert threshold_count(theta, alpha) == 255


def test_intmodel_signs_and_thresholds():
    w0 = np.array([[0.0, -0.0, 1e-9, -1e-9]] * 6)
    m = IntModel.from_model(tiny(alphas=(4.0, 3.0), thetas=(10.0, 9.0), w0=w0))
    assert m.thresholds == (3, 3)
    assert m.layer_sizes == (4, 6, 3)
    # sign(0) = +1, and -0.0 >= 0 too
    assert m.signs[0][0].tolist() == [1, 1, 1, -1]
    assert m.model_hash == tiny(alphas=(4.0, 3.0), thetas=(10.0, 9.0), w0=w0).content_hash


def test_refuses_real_weight_model():
    with pytest.raises(Bs4nnError, match="only binary-weight models run on the board"):
        IntModel.from_model(tiny(weight_kind="real"))


def test_refuses_threshold_that_does_not_fit_int16():
    with pytest.raises(
        Bs4nnError, match=r"^threshold K=40000 of weight layer 2 of 2 does not fit the board's"
    ):
        IntModel.from_model(tiny(thetas=(10.0, 40000.0), alphas=(1.0, 1.0)))


def test_refuses_non_positive_threshold():
    with pytest.raises(Bs4nnError, match=r"^threshold K=0 of weight layer 1 of 2 does not fit"):
        IntModel.from_model(tiny(thetas=(0.0, 10.0), alphas=(1.0, 1.0)))


def test_refuses_layer_over_firmware_limit():
    w0 = np.ones((4097, 4))
    w1 = np.ones((3, 4097))
    model = model_from_arrays([w0, w1], [1.0, 1.0], [2.0, 2.0])
    with pytest.raises(
        Bs4nnError, match="^hidden layer 1 has 4097 neurons; the firmware allows 4096"
    ):
        IntModel.from_model(model)


def test_refuses_non_positive_alpha():
    model = tiny()
    model.alphas[1] = 0.0  # as a corrupt or foreign model could carry
    with pytest.raises(
        Bs4nnError, match=r"^weight layer 2 of 2 in model has alpha=0.0; .* needs alpha > 0"
    ):
        IntModel.from_model(model)


def test_thresholds_given_for_a_run_are_checked():
    from bs4nn.codegen.reference import reference_batch

    model = IntModel.from_model(tiny())
    with pytest.raises(Bs4nnError, match=whole("1 thresholds given for 2 weight layers")):
        model.check_limits((2,))
    message = (
        "threshold K=0 of weight layer 1 of 2 does not fit the board's int16 counter "
        "(allowed 1..32767); K = ceil(theta/alpha)"
    )
    with pytest.raises(Bs4nnError, match=whole(message)):
        reference_batch(model, np.zeros((1, 4), np.uint8), (0, 1))


def test_the_documented_limits_are_allowed():
    from bs4nn.trainer.semantics import check_thresholds, firmware_size_problem

    check_thresholds([1, 32767])
    assert firmware_size_problem([65535, 4096, 255]) is None
    assert firmware_size_problem([65536, 4096, 255]) == (
        "input layer has 65536 inputs; the firmware takes 65535"
    )
    assert firmware_size_problem([65535, 4096, 4097, 255]) == (
        "hidden layer 2 has 4097 neurons; the firmware allows 4096 per layer"
    )
    assert firmware_size_problem([65535, 4096, 256]) == (
        "256 outputs; the firmware reports labels up to 255"
    )
    # an output layer over 4096 neurons: the limit that binds is the outputs'
    assert firmware_size_problem([784, 16, 4097]) == (
        "4097 outputs; the firmware reports labels up to 255"
    )
    with pytest.raises(Bs4nnError) as exc:
        check_thresholds([1, 32768])
    assert str(exc.value) == (
        "threshold K=32768 of weight layer 2 of 2 does not fit the board's int16 counter "
        "(allowed 1..32767); K = ceil(theta/alpha)"
    )


def test_more_thresholds_than_weight_layers_are_refused():
    model = IntModel(
        layer_sizes=(4, 6, 3),
        thresholds=(1, 1),
        signs=(np.ones((6, 4), np.int8), np.ones((3, 6), np.int8)),
        tmax=256,
        model_hash="0" * 64,
    )
    with pytest.raises(Bs4nnError, match="^3 thresholds given for 2 weight layers$"):
        model.check_limits((2, 2, 2))
