"""NIR out and in: every array of the written graph, a NIR-semantics simulation of it against the
integer reference, foreign graphs binarised with a report, refusals, the round trip's hash."""

import dataclasses
import errno
import os
from pathlib import Path

import nir
import numpy as np
import pytest
from helpers import run_bs4nn

from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import reference_batch
from bs4nn.trainer.datasets import load_dataset
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import Model, model_from_arrays, training_record
from bs4nn.trainer.nir_graph import model_from_nir, read_nir, write_nir
from bs4nn.trainer.semantics import NOT_FIRED

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(3)
    return model_from_arrays(
        [rng.normal(size=(37, 784)), rng.normal(size=(10, 37))],
        [0.3, 0.7],
        [4.0, 2.2],
        dataset="mnist",
    )


def test_written_graph_holds_every_array(small, tmp_path):
    graph = nir.read(write_nir(small, tmp_path / "m.nir"))
    assert graph.edges == [
        ("input", "linear_0"),
        ("linear_0", "if_0"),
        ("if_0", "linear_1"),
        ("linear_1", "if_1"),
        ("if_1", "output"),
    ]
    assert graph.nodes["input"].input_type["input"].tolist() == [784]
    assert graph.nodes["output"].output_type["output"].tolist() == [10]
    ks = small.thresholds()
    for layer, (w, alpha, theta) in enumerate(
        zip(small.weights, small.alphas, small.thetas, strict=True)
    ):
        lin, neuron = graph.nodes[f"linear_{layer}"], graph.nodes[f"if_{layer}"]
        assert np.array_equal(lin.weight, alpha * np.where(w >= 0, 1.0, -1.0))
        assert np.array_equal(lin.metadata["bs4nn_proxy_weights"], w)
        v_threshold = alpha * (ks[layer] - 0.5)
        assert np.array_equal(neuron.v_threshold, np.full(w.shape[0], v_threshold))
        assert np.array_equal(neuron.r, np.ones(w.shape[0]))
        # more than all its inputs can add below the threshold: at most one spike, in NIR too
        fan_in = w.shape[1]
        assert np.array_equal(
            neuron.v_reset, np.full(w.shape[0], v_threshold - alpha * (fan_in + 1))
        )
        assert (neuron.metadata["bs4nn_theta"], neuron.metadata["bs4nn_k"]) == (theta, ks[layer])
    assert graph.metadata["producer"] == "bs4nn-edge"
    assert graph.metadata["bs4nn_model_hash"] == small.content_hash
    assert graph.metadata["input_coding"].startswith("pixel intensity I (0..255) spikes once")


def nir_simulation(graph, pixels):
    """Spikes per layer, read off the graph the NIR way and nothing else (no metadata): v += r *
    W x, a spike when v > v_threshold, then v = v_reset, a neuron may fire again; same-step
    propagation, inputs at 255 - I. Returns per layer (first spike step, number of spikes)."""
    layers = [
        (graph.nodes[f"linear_{i}"], graph.nodes[f"if_{i}"])
        for i in range(sum(k.startswith("linear_") for k in graph.nodes))
    ]
    first = [np.where(pixels > 0, 255 - pixels.astype(int), 256)]
    count = [(pixels > 0).astype(int)]
    for lin, _ in layers:
        first.append(np.full(lin.weight.shape[0], 256))
        count.append(np.zeros(lin.weight.shape[0], int))
    v = [np.zeros(lin.weight.shape[0]) for lin, _ in layers]
    for t in range(256):
        arriving = (first[0] == t).astype(float)
        for i, (lin, neuron) in enumerate(layers):
            v[i] += neuron.r * (lin.weight @ arriving)
            fire = v[i] > neuron.v_threshold
            v[i][fire] = np.broadcast_to(neuron.v_reset, v[i].shape)[fire]
            first[i + 1][fire & (first[i + 1] == 256)] = t
            count[i + 1] += fire
            arriving = fire.astype(float)
    return first, count


def test_the_graph_read_as_nir_fires_like_the_integer_reference(small, tmp_path):
    """NIR semantics alone (its IF resets and may fire again): every neuron fires at most
    once, and the first output spikes are the integer reference's."""
    graph = nir.read(write_nir(small, tmp_path / "m.nir"))
    images = load_dataset("mnist", "test")[0][:20]
    ref = reference_batch(IntModel.from_model(small), images)
    for n, pixels in enumerate(images):
        first, count = nir_simulation(graph, pixels)
        assert all(int(c.max(initial=0)) <= 1 for c in count[1:])
        out = first[-1]
        step = int(out.min())
        if ref.fallback[n]:
            assert step > ref.decision_steps[n]
        else:
            assert step == ref.decision_steps[n]
            fired = np.where(ref.output_steps[n] != NOT_FIRED)[0]
            assert np.flatnonzero(out == step).tolist() == fired.tolist()


def test_round_trip_of_the_shipped_model_keeps_its_hash(tmp_path):
    model_path = REPO / "models" / "mnist-600.bs4nn"
    proc = run_bs4nn("export", str(model_path), "--format", "nir", "--out", str(tmp_path / "m.nir"))
    assert proc.returncode == 0, proc.stderr
    proc = run_bs4nn("import-nir", str(tmp_path / "m.nir"), "--out", str(tmp_path / "m.bs4nn"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == (
        "weight layer 1 of 2: 784->600, bs4nn's own weights, alpha 5.02939, theta 173.514, K 35"
    )
    original, back = Model.load(model_path), Model.load(tmp_path / "m.bs4nn")
    assert back.content_hash == original.content_hash and back.dataset == "mnist"
    # and its training record: the history a training plot draws, the test accuracy, the seed
    assert (back.seed, back.train_config, back.metrics, back.dataset_sha256) == (
        original.seed,
        original.train_config,
        original.metrics,
        original.dataset_sha256,
    )
    assert back.metrics["history"] and back.metrics["test_accuracy"] == 0.9708


def test_a_graph_that_cannot_be_written_leaves_nothing(small, tmp_path, monkeypatch):
    # h5py writing straight to a full disk crashed the process (SIGSEGV) and left the folder
    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    path = tmp_path / "new" / "m.nir"
    with pytest.raises(Bs4nnError) as exc:
        write_nir(small, path)
    assert str(exc.value) == (
        f"cannot write {path}: No space left on device; free space on the disk, or choose "
        "another path"
    )
    assert list(tmp_path.iterdir()) == []


def foreign_graph(w0, bias=None, r=1.0, thresholds=(2.5, 2.5, 2.5), extra=None):
    nodes = {
        "in": nir.Input(input_type={"input": np.array([4])}),
        "fc": nir.Linear(weight=w0) if bias is None else nir.Affine(weight=w0, bias=bias),
        "lif" if extra == "lif" else "spk": (
            nir.LIF(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3))
            if extra == "lif"
            else nir.IF(r=np.full(3, r), v_threshold=np.array(thresholds), v_reset=np.zeros(3))
        ),
        "out": nir.Output(output_type={"output": np.array([3])}),
    }
    mid = "lif" if extra == "lif" else "spk"
    return nir.NIRGraph(
        nodes=nodes, edges=[("in", "fc"), ("fc", mid), (mid, "out")], type_check=False
    )


W0 = np.array([[1.0, -2.0, 0.0, 3.0], [0.5, 0.5, -0.5, -0.5], [-1.0, 2.0, 2.0, 1.0]])


def test_foreign_graph_is_binarised_with_a_report():
    result = model_from_nir(foreign_graph(W0, bias=np.zeros(3), r=2.0, thresholds=(5.0, 5.0, 5.0)))
    model = result.model
    alpha = float(np.abs(W0).mean())  # 14 / 12
    assert model.alphas.tolist() == [alpha]
    # NIR: v = r * W x = 2 alpha * count > 5  <=>  count > 2.5 / alpha = 2.14...  <=>  K = 3
    assert model.thresholds() == [3]
    assert np.array_equal(
        np.where(model.weights[0] >= 0, 1, -1), [[1, -1, 1, 1], [1, 1, -1, -1], [-1, 1, 1, 1]]
    )
    assert result.report == [
        f"weight layer 1 of 1: 4->3, binarised to alpha {alpha:g} x sign(W): 12 of 12 "
        "weights changed value; v_threshold / r = 2.5 -> K 3 (fires at "
        "count >= 3)",
        # its IF neurons reset to 0: in NIR they could fire again
        "weight layer 1 of 1: v_reset lets these IF neurons fire again in NIR; bs4nn neurons "
        "fire once (the first spike counts)",
    ]
    assert model.dataset is None


@pytest.mark.parametrize(
    "weight,threshold,r",
    [(0.1, 0.7, 1.0), (0.001, 0.011, 1.0), (0.1, 1.4, 2.0), (1.0, 7.0, 1.0)],
)
def test_a_threshold_on_a_multiple_of_the_weight_needs_one_input_more(weight, threshold, r):
    # 0.7 / 0.1 = 6.999..., 0.011 / 0.001 = 11.000...: the float quotient falls on either
    # side of the multiple, and so did K (7 and 12); NIR's v > v_threshold wants n + 1
    w = weight * np.where(W0 >= 0, 1.0, -1.0)
    n = round(threshold / r / weight)
    result = model_from_nir(foreign_graph(w, r=r, thresholds=(threshold,) * 3))
    assert result.model.thresholds() == [n + 1]
    assert result.report[1] == (
        f"weight layer 1 of 1: v_threshold / r = {threshold / r:g} is {n} x {weight:g} to within "
        f"rounding: NIR's v > v_threshold needs count {n + 1}; a simulator's float rounding may "
        f"fire at {n}"
    )


@pytest.mark.parametrize(
    "graph,message",
    [
        (
            foreign_graph(W0, bias=np.ones(3)),
            "node 'fc' (Affine) has a non-zero bias; BS4NN neurons have none",
        ),
        (
            foreign_graph(W0, extra="lif"),
            "node 'lif' is a LIF; bs4nn runs non-leaky IF neurons only",
        ),
        (
            foreign_graph(W0, thresholds=(1.0, 2.0, 1.0)),
            "node 'spk': thresholds differ between "
            "neurons (1 to 2); bs4nn has one threshold "
            "per layer",
        ),
        (
            foreign_graph(W0, thresholds=(-1.0, -1.0, -1.0)),
            "node 'spk': threshold -1 is negative; a neuron would fire before any input",
        ),
        (foreign_graph(np.zeros((3, 4))), "node 'fc': all weights are zero"),
        (
            foreign_graph(W0, thresholds=(1e9, 1e9, 1e9)),
            "node 'spk': v_threshold / r = 1e+09 is 857,142,858 inputs of weight 1.16667 (K); "
            "bs4nn's int16 counters allow K up to 32,767",
        ),
        (  # the threshold over the weight is inf
            foreign_graph(np.where(W0 >= 0, 1e-310, -1e-310), thresholds=(5.0,) * 3),
            "node 'spk': v_threshold / r = 5 is more than 10^9 inputs of weight 1e-310 "
            "(K); bs4nn's int16 counters allow K up to 32,767",
        ),
        (
            foreign_graph(W0 * 5e307, thresholds=(5.0,) * 3),
            "node 'fc': the weights' mean magnitude overflows a float; scale them down",
        ),
    ],
)
def test_graphs_we_cannot_run_are_refused(graph, message):
    with pytest.raises(Bs4nnError) as exc:
        model_from_nir(graph)
    assert str(exc.value) == message


def test_branching_graph_and_bad_files_are_refused(tmp_path):
    g = foreign_graph(W0)
    g.edges.append(("in", "out"))
    with pytest.raises(
        Bs4nnError,
        match=r"^node 'in' has 2 successors; bs4nn runs a straight "
        r"chain of layers",
    ):
        model_from_nir(g)
    junk = tmp_path / "junk.nir"
    junk.write_bytes(b"not hdf5")
    proc = run_bs4nn("import-nir", str(junk), "--out", str(tmp_path / "m.bs4nn"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"bs4nn import-nir: error: {junk} is not a readable NIR file (")
    assert not (tmp_path / "m.bs4nn").exists()
    with pytest.raises(Bs4nnError, match="^NIR file .*missing.nir not found$"):
        read_nir(tmp_path / "missing.nir")


@pytest.mark.parametrize(
    "node,key,value",
    [
        ("if_0", "bs4nn_k", "abc"),
        ("if_0", "bs4nn_theta", "abc"),
        ("if_0", "bs4nn_theta", np.array([1.0, 2.0])),
        ("if_0", "bs4nn_theta", float("nan")),
        ("linear_0", "bs4nn_proxy_weights", np.full((37, 784), "x")),
        ("linear_0", "bs4nn_proxy_weights", [[1.0, 2.0], [3.0]]),
    ],
)
def test_damaged_metadata_is_not_used(small, tmp_path, node, key, value):
    """Metadata that does not parse is a damaged hint: the graph is read as a foreign one."""
    graph = nir.read(write_nir(small, tmp_path / "m.nir"))
    graph.nodes[node].metadata[key] = value
    result = model_from_nir(graph)
    assert result.model.thresholds() == small.thresholds()
    assert "binarised to alpha 0.3" in result.report[0]
    assert result.report[1].endswith(", bs4nn's own weights, alpha 0.7, theta 2.2, K 4")


def test_metadata_that_disagrees_with_the_graph_is_not_used(small, tmp_path):
    """NIR consumers must not rely on metadata: a theta in it that gives another K than the
    graph's v_threshold is ignored, and the model runs as the graph says."""
    graph = nir.read(write_nir(small, tmp_path / "m.nir"))
    ks = small.thresholds()
    graph.nodes["if_0"].metadata["bs4nn_theta"] = 500.0  # K 1667 at alpha 0.3
    graph.metadata["bs4nn_training_record"] = training_record(
        dataclasses.replace(small, metrics={"test_accuracy": 0.5})
    )
    result = model_from_nir(graph)
    assert result.model.thresholds() == ks
    # not the model whose hash the graph names: its training record is not this model's
    assert result.model.metrics == {}
    assert result.report[0].endswith(f"-> K {ks[0]} (fires at count >= {ks[0]})")
    assert result.report[1] == (
        f"weight layer 2 of 2: 37->10, bs4nn's own weights, alpha 0.7, theta 2.2, K {ks[1]}"
    )


@pytest.mark.parametrize("name", ["other.bs4nn", "sensors.npz"])
def test_the_graph_is_not_written_over_a_file_that_is_no_nir_graph(tmp_path, capsys, name):
    # `export M --format nir --out OTHER.bs4nn` replaced another model with the graph
    from bs4nn.cli import main

    shipped = Path(__file__).resolve().parents[1] / "models" / "mnist-600.bs4nn"
    out = tmp_path / name
    out.write_bytes(b"PK\x03\x04 a zip archive")
    assert main(["export", str(shipped), "--format", "nir", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"bs4nn export: error: --out {out} is a file but no NIR graph, which saving would "
        "replace; give another file name\n"
    )
    assert out.read_bytes() == b"PK\x03\x04 a zip archive"
    graph = tmp_path / "m.nir"
    assert main(["export", str(shipped), "--format", "nir", "--out", str(graph)]) == 0
    assert main(["export", str(shipped), "--format", "nir", "--out", str(graph)]) == 0  # again
