"""Past one process: torchrun shards an attack without changing a record, and averages training gradients
exactly. The torchrun tests run real ranks (gloo, CPU, one thread each) on the small LSTM."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest
import torch

from advtext.distributed import World
from advtext.errors import AdvtextError
from advtext.text.run_attack import HEADER, batch_plan, merge_parts, part_files, part_path, read_attack_file

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def torchrun(ranks: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*TORCHRUN, "--nproc-per-node", str(ranks), "-m", "advtext", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=300)


def one_process(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "advtext", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=ENV, timeout=300)


def without_seconds(path: Path) -> list[str]:
    """The file's lines, records without their timing: what must not depend on the shard layout."""
    lines = []
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        obj.pop("seconds", None)
        lines.append(json.dumps(obj))
    return lines


@pytest.mark.parametrize("n", [0, 1, 5, 17])
@pytest.mark.parametrize("size", [1, 2, 3, 8])
def test_shards_cover_every_input_once(n, size):
    taken = [i for rank in range(size) for i in World(rank, size).shard(n)]
    assert sorted(taken) == list(range(n))


def _record(key: int) -> dict:
    return {"id": key, "status": "failed", "label": 0, "length": 3, "words_changed": 0, "changes": [],
            "original": f"text {key}", "seconds": 0.1}


def _write(path: Path, config: dict, keys: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in [{HEADER: config}, *map(_record, keys)]))


def test_merge_is_in_input_order_and_idempotent(tmp_path):
    out, config = tmp_path / "a.jsonl", {"method": "papernot", "seed": 0}
    keys = [7, 3, 9, 1, 4]
    _write(out, config, [9])  # a one-process run stopped early, and two ranks' parts of another layout
    _write(part_path(out, 0), config, [4, 7])
    _write(part_path(out, 2), config, [1, 3, 9])
    merge_parts(out, config, keys)
    assert [r["id"] for r in read_attack_file(out)[1]] == keys
    assert not part_files(out) and not out.with_name("a.jsonl.parts").exists()
    before = out.read_bytes()
    merge_parts(out, config, keys)
    assert out.read_bytes() == before


def test_a_part_of_another_configuration_is_refused(tmp_path):
    out = tmp_path / "a.jsonl"
    _write(part_path(out, 1), {"method": "greedy", "seed": 0}, [1])
    with pytest.raises(AdvtextError, match=r"rank-1.jsonl was written by a different configuration \(method\)"):
        merge_parts(out, {"method": "papernot", "seed": 0}, [1])


def test_a_gpu_rank_sets_its_device_before_joining(monkeypatch):
    """Object collectives (validation figures, random states) stage on the current CUDA device: each rank must make
    its own GPU current before the group forms, or every rank would use GPU 0 (checked without a GPU)."""
    from advtext import distributed

    calls = []
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.torch.cuda, "set_device", lambda d: calls.append(("set_device", str(d))))
    monkeypatch.setattr(distributed.dist, "init_process_group",
                        lambda backend, **kw: calls.append(("init", backend, str(kw.get("device_id")))))
    monkeypatch.setattr(distributed.signal, "signal", lambda *a: None)
    monkeypatch.setattr(distributed, "_device", None)
    distributed.join(torch.device("cuda", 1))
    assert calls == [("set_device", "cuda:1"), ("init", "nccl", "cuda:1")]


def test_a_gpu_named_by_index_under_torchrun_must_be_the_ranks_own(monkeypatch):
    """`--device cuda:0` on every rank would put them all on one GPU, which nccl refuses: a one-line error."""
    from advtext import engine

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(engine, "_device_named", torch.device)  # as on a machine with two GPUs
    joined = []
    monkeypatch.setattr(engine, "join", joined.append)
    with pytest.raises(AdvtextError, match="each rank takes its own GPU .*cuda:1.*use --device cuda or auto"):
        engine.select_device("cuda:0")
    assert engine.select_device("cuda:1") == engine.select_device("cuda") == torch.device("cuda", 1)
    assert joined == [torch.device("cuda", 1)] * 2


def test_every_option_passes_torchrun_parser():
    """torchrun refuses an abbreviation of its own options among the script's arguments (``--n`` could be
    ``--nnodes``): no option of any advtext command may be one."""
    from torch.distributed.run import get_args_parser

    from advtext.cli import cli

    def options(cmd, path):
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(click.Context(cmd)):
                yield from options(cmd.get_command(click.Context(cmd), name), [*path, name])
        else:
            for param in cmd.params:
                for opt in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
                    yield path, opt

    parser = get_args_parser()
    refused = []
    for path, opt in options(cli, []):
        if opt == "--n":  # the short name kept for one-process use; --limit is the one to give torchrun
            continue
        try:
            parser.parse_args(["--nproc-per-node", "2", "-m", "advtext", *path, opt, "1"])
        except SystemExit:
            refused.append(f"{' '.join(path)} {opt}")
    assert not refused


ATTACK = ["--corpus", "rotten-tomatoes", "--method", "papernot", "--max-change", "0.3", "--no-similarity",
          "--device", "cpu"]


def test_torchrun_records_equal_one_process_and_resume(small_clf, tmp_path):
    run, clf = small_clf
    single, sharded = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    args = ["attack", run, *ATTACK, "--limit", "30", "--batch-size", "8"]
    done = one_process("--deterministic", *args, "--out", single)
    assert done.returncode == 0, done.stderr
    done = torchrun(2, *args, "--out", sharded)
    assert done.returncode == 0, done.stderr[-3000:]
    assert without_seconds(sharded) == without_seconds(single)
    assert not part_files(sharded)
    assert done.stdout.count("records:") == 1  # rank 0 speaks for all
    # a two-rank run killed after batch 0 on rank 0 and batch 1 on rank 1 (of 4 batches of 8 texts) left its
    # parts: three ranks, then one process, continue from them
    lines = single.read_text().splitlines()
    plan = batch_plan([json.loads(line)["original"] for line in lines[1:]], clf.max_len, 8)
    assert len(plan) == 4
    for ranks in (3, None):
        resumed = tmp_path / f"resumed-{ranks}.jsonl"
        for rank, batch in ((0, plan[0]), (1, plan[1])):
            part_path(resumed, rank).parent.mkdir(exist_ok=True)
            part_path(resumed, rank).write_text("\n".join([lines[0], *(lines[1 + i] for i in batch)]) + "\n")
        done = torchrun(ranks, *args, "--out", resumed) if ranks else one_process(*args, "--out", resumed)
        assert done.returncode == 0, done.stderr[-3000:]
        assert without_seconds(resumed) == without_seconds(single)
        assert "resuming" in done.stderr or ranks


def test_two_nodes_by_c10d_rendezvous_equal_one_process(small_clf, tmp_path):
    """The README's many-node command, as two nodes of one process each on this machine: two torchrun launchers
    meet at a c10d endpoint and share the output folder; the merged records equal one process's."""
    run, _ = small_clf
    args = ["attack", run, *ATTACK, "--limit", "30", "--batch-size", "8"]
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
                               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"localhost:{port}", "-m", "advtext",
                               *map(str, args), "--out", str(tmp_path / "nodes.jsonl")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)
             for _ in range(2)]
    outputs = [node.communicate(timeout=300) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], [err[-2000:] for _, err in outputs]
    done = one_process(*args, "--out", tmp_path / "one.jsonl")
    assert done.returncode == 0, done.stderr
    assert without_seconds(tmp_path / "nodes.jsonl") == without_seconds(tmp_path / "one.jsonl")
    assert sum(out.count("records:") for out, _ in outputs) == 1  # the node holding rank 0 speaks for all


def test_torchrun_with_more_ranks_than_texts_and_a_foreign_part(small_clf, tmp_path):
    run, _ = small_clf
    out = tmp_path / "a.jsonl"
    done = torchrun(3, "attack", run, *ATTACK, "--limit", "2", "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(read_attack_file(out)[1]) == 2
    other = tmp_path / "b.jsonl"
    header = read_attack_file(out)[0]
    _write(part_path(other, 1), {**header, "method": "greedy"}, [1])
    done = torchrun(2, "attack", run, *ATTACK, "--limit", "4", "--out", other)
    assert done.returncode != 0
    said = [line for line in done.stderr.splitlines() if line.startswith("error")]
    refused = [x for x in said if "rank-1.jsonl was written by a different configuration" in x]
    stopped = [x for x in said if "stopped by torchrun" in x]
    # every rank that gets to read the parts refuses in one line; torchrun may stop the other rank before it does,
    # and that rank says so in a line of its own
    assert 1 <= len(said) <= 2 and refused, said
    assert len(refused) + len(stopped) == len(said) and not set(refused) & set(stopped), said  # no line cut into
    # torchrun prints its own traceback of the failed launch; none comes from advtext's code
    assert not [line for line in done.stderr.splitlines() if line.strip().startswith("File") and "advtext" in line
                and "site-packages/torch" not in line]


STOPPED = """
import os, signal
from advtext import distributed
signal.signal(signal.SIGTERM, distributed._stopped_by_peer)  # as join() sets it under torchrun
if {saying}:
    distributed.saying_why_it_stops()
os.kill(os.getpid(), signal.SIGTERM)  # torchrun's stop, as another rank's failure sends it
print("error (rank 1): this rank's own reason, whole")
"""


@pytest.mark.parametrize("saying", [True, False])
def test_a_rank_saying_why_it_stops_is_not_cut_off_by_torchruns_stop(saying):
    """A rank that failed on its own prints its reason whole, though torchrun may stop it meanwhile because another
    rank failed first; a rank stopped while still working says that it was stopped."""
    done = subprocess.run([sys.executable, "-c", STOPPED.format(saying=saying)], capture_output=True, text=True,
                          timeout=60)
    if saying:
        assert (done.returncode, done.stdout, done.stderr) == (0, "error (rank 1): this rank's own reason, whole\n", "")
    else:
        assert done.returncode == 143 and done.stdout == "" and "stopped by torchrun" in done.stderr


GRADIENT_PROBE = """
import sys, torch
from advtext.distributed import finish, join, leave, world
from advtext.training import TrainSettings, train_epoch
join(torch.device("cpu"))
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
x, y = torch.randn(7, 6, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 2, 0, 1, 2, 0])
train_epoch(model, [(x, y)], 7, TrainSettings(grad_clip=1e9), torch.optim.SGD(model.parameters(), lr=0.0), "step")
if world().main:
    torch.save([p.grad for p in model.parameters()], sys.argv[1])
leave()
finish(0)  # as the command line ends: exit before torch's teardown, which can abort a rank
"""


@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_data_parallel_step_has_the_whole_batch_gradient(tmp_path, ranks):
    """Each rank steps on its share of a batch of 7 (4 + 3, or 3 + 2 + 2 rows): the averaged gradient is the
    one a single process computes on the whole batch."""
    probe, grads = tmp_path / "probe.py", tmp_path / "grads.pt"
    probe.write_text(GRADIENT_PROBE)
    launch = [*TORCHRUN, "--nproc-per-node", str(ranks)] if ranks > 1 else [sys.executable]
    done = subprocess.run([*launch, str(probe), str(grads)], capture_output=True, text=True, cwd=ROOT, env=ENV,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    x, y = torch.randn(7, 6, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 2, 0, 1, 2, 0])
    torch.nn.functional.cross_entropy(model(x), y).backward()
    for ours, whole in zip(torch.load(grads), model.parameters()):
        torch.testing.assert_close(ours, whole.grad, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_torchrun_hardens_and_distils_with_two_ranks(tmp_path):
    """harden (the discrete adversary on each rank's share) and distill (a teacher saved by rank 0, then loaded
    by both) run end to end under torchrun on Rotten Tomatoes, two epochs each."""
    small = ["--corpus", "rotten-tomatoes", "--max-len", "30", "--embed-dim", "32", "--hidden-size", "32", "--epochs",
             "2", "--device", "cpu"]
    for command, extra in (("harden", ["--method", "both"]), ("distill", ["--temperature", "20"])):
        out = tmp_path / command
        done = torchrun(2, command, *small, *extra, "--out", out)
        assert done.returncode == 0, done.stderr[-3000:]
        config = json.loads((out / "config.json").read_text())
        assert config["test"]["accuracy"] > 0.6 and done.stdout.count("saved") == (2 if command == "distill" else 1)
