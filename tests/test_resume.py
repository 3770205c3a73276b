"""`train --resume`: a run killed after epoch k ends exactly like an uninterrupted one."""

from __future__ import annotations

import json

import pytest

import kgenhance.train.trainer as trainer_module
from kgenhance.errors import ConfigError
from kgenhance.train import TrainingConfig, train_classifier


def _config(**kw) -> TrainingConfig:
    return TrainingConfig(**{"epochs": 3, "batch_size": 4, "device": "cpu", "seed": 7, **kw})


def _comparable(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


@pytest.mark.parametrize("use_knowledge", [True, False])
def test_killed_run_resumes_to_the_same_result(tiny_backbone, tiny_data, tiny_graph, tmp_path, monkeypatch,
                                              use_knowledge):
    train, val = tiny_data
    kw = dict(graph=tiny_graph if use_knowledge else None, use_knowledge=use_knowledge, backbone=str(tiny_backbone),
              progress=False)
    whole = train_classifier(train, val, tmp_path / "whole", config=_config(), **kw)
    assert not (tmp_path / "whole.checkpoint").exists()  # removed once the model is saved

    real_save = trainer_module.save_checkpoint

    def save_then_die(directory, **state):
        real_save(directory, **state)
        if state["epoch"] == 1:
            raise KeyboardInterrupt  # as if the process were killed right after epoch 1

    monkeypatch.setattr(trainer_module, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_classifier(train, val, tmp_path / "run", config=_config(), **kw)
    assert (tmp_path / "run.checkpoint" / "state.json").is_file()
    assert not (tmp_path / "run").exists()
    monkeypatch.setattr(trainer_module, "save_checkpoint", real_save)

    resumed = train_classifier(train, val, tmp_path / "run", config=_config(resume=True), **kw)
    assert resumed.metrics["resumed_after_epoch"] == 1
    assert _comparable(resumed.metrics["history"]) == _comparable(whole.metrics["history"])
    assert _comparable(resumed.log) == _comparable(whole.log)  # metrics.jsonl carries over the interruption
    assert resumed.metrics["accuracy"] == whole.metrics["accuracy"]
    assert resumed.metrics["macro_f1"] == whole.metrics["macro_f1"]
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["best_epoch"] == whole.metrics["best_epoch"]
    assert not (tmp_path / "run.checkpoint").exists()


def test_resume_refuses_a_checkpoint_of_other_settings(tiny_backbone, tiny_data, tmp_path, monkeypatch):
    train, val = tiny_data
    real_save = trainer_module.save_checkpoint

    def save_then_die(directory, **state):
        real_save(directory, **state)
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer_module, "save_checkpoint", save_then_die)
    kw = dict(use_knowledge=False, backbone=str(tiny_backbone), progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_classifier(train, val, tmp_path / "run", config=_config(), **kw)
    monkeypatch.setattr(trainer_module, "save_checkpoint", real_save)
    with pytest.raises(ConfigError, match="other settings or data"):
        train_classifier(train, val, tmp_path / "run", config=_config(resume=True, learning_rate=1e-3), **kw)


def test_resume_without_checkpoint_starts_fresh(tiny_backbone, tiny_data, tmp_path):
    train, val = tiny_data
    result = train_classifier(train, val, tmp_path / "run", config=_config(resume=True, epochs=1),
                              use_knowledge=False, backbone=str(tiny_backbone), progress=False)
    assert "resumed_after_epoch" not in result.metrics and len(result.metrics["history"]) == 1


def test_checkpoint_keeps_the_knowledge_streams_state_on_every_device(tmp_path):
    import torch

    from kgenhance.model.rng import PrivateRandomStream
    from kgenhance.train.checkpoint import load_checkpoint, restore_random_state, save_checkpoint

    stream = PrivateRandomStream(3)
    with stream.use("cpu"):
        torch.rand(5)
    stream.states["cuda:0"] = torch.arange(16, dtype=torch.uint8)  # as a CUDA generator's state would be
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    save_checkpoint(tmp_path / "ckpt", key="k", epoch=1, history=[], best=None, model=model, best_state=None,
                    optimizer=optimizer, scheduler=scheduler, order_generator=torch.Generator(),
                    knowledge_rng=stream.states)
    ckpt = load_checkpoint(tmp_path / "ckpt", "k")
    assert set(ckpt.knowledge_rng) == {"cpu", "cuda:0"}
    fresh = PrivateRandomStream(3)

    class Holder:
        knowledge_rng = fresh

    restore_random_state(ckpt, torch.Generator(), Holder())
    assert all(torch.equal(fresh.states[d], stream.states[d]) for d in ("cpu", "cuda:0"))
    with fresh.use(), torch.random.fork_rng(devices=[]):
        resumed = torch.rand(3)
    with stream.use():
        assert torch.equal(resumed, torch.rand(3))  # the resumed stream goes on where the saved one was
