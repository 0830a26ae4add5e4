import numpy as np
import pytest

from bs4nn.codegen.packing import pack_signs, packed_words, unpack_signs


@pytest.mark.parametrize("n_out,n_in", [(1, 1), (3, 5), (7, 13), (10, 600), (600, 784), (33, 31)])
def test_pack_unpack_round_trip_odd_sizes(n_out, n_in):
    rng = np.random.default_rng(n_out * 1000 + n_in)
    signs = np.where(rng.random((n_out, n_in)) < 0.5, -1, 1).astype(np.int8)
    words = pack_signs(signs)
    assert words.dtype == np.uint32
    assert words.size == packed_words(n_in, n_out) == -(-n_in * n_out // 32)
    np.testing.assert_array_equal(unpack_signs(words, n_in, n_out), signs)


def test_bit_order_is_input_major_lsb_first():
    # 2 neurons x 3 inputs: synapse (input i -> neuron j) is bit i*2 + j
    signs = np.array([[+1, -1, -1],   # neuron 0: +1 from input 0 only -> bit 0
                      [-1, -1, +1]],  # neuron 1: +1 from input 2 only -> bit 2*2+1 = 5
                     dtype=np.int8)
    assert pack_signs(signs).tolist() == [0b100001]


def test_padding_bits_are_zero_and_only_last_word():
    signs = np.ones((1, 33), dtype=np.int8)  # 33 bits -> 2 words
    assert pack_signs(signs).tolist() == [0xFFFFFFFF, 0x1]


def test_mnist_600_weights_are_59550_bytes_plus_padding():
    sizes = [(784, 600), (600, 10)]
    total = sum(4 * packed_words(n_in, n_out) for n_in, n_out in sizes)
    assert 59550 <= total < 59550 + 4 * len(sizes)


def test_rejects_non_sign_values():
    with pytest.raises(ValueError, match=r"\+1/-1"):
        pack_signs(np.array([[1, 0]], dtype=np.int8))
