"""Run ``fit`` on the tiny task in its own process (plain or under torchrun).

argv[1]: JSON with workdir, out (prefix of the output files), n, epochs, batch_size,
checkpoint_every, dropout, optional precision (default fp32), groups (``OptimConfig.groups``
as ``{prefix: {"lr": ..., "weight_decay": ...}}``) and kill_at (print READY and hang at that
loss call).
Writes ``<out>-rank<r>.safetensors`` (final parameters) and ``<out>-rank<r>.json``.
"""

import json
import sys
import time

import torch
from safetensors.torch import save_file
from sidkit.training import OptimConfig, ParamGroupConfig, TrainConfig, cleanup, fit
from sidkit.training.distributed import dist_info
from sidkit_training_task import accuracy_on, batch_maker, loss_fn, make_data, make_model

torch.set_num_threads(1)
args = json.loads(sys.argv[1])
x, y = make_data(args["n"])
vx, vy = make_data(64, seed=1)
calls = 0


def counting_loss(model, batch):
    global calls
    calls += 1
    if calls == args.get("kill_at"):
        print("READY", flush=True)
        time.sleep(120)  # the test SIGKILLs us here
    return loss_fn(model, batch)


cfg = TrainConfig(
    epochs=args["epochs"],
    batch_size=args["batch_size"],
    optim=OptimConfig(lr=0.05, groups={k: ParamGroupConfig(**v) for k, v in args.get("groups", {}).items()}),
    checkpoint_every_steps=args["checkpoint_every"],
    early_stopping_patience=100,
    precision=args.get("precision", "fp32"),
    progress=False,
)
model = make_model(dropout=args["dropout"])
result = fit(
    model,
    loss_fn=counting_loss,
    n_examples=args["n"],
    make_batch=batch_maker(x, y),
    cfg=cfg,
    seed=7,
    device="cpu",
    workdir=args["workdir"],
    validate=accuracy_on(vx, vy),
    metric_name="acc",
)
rank = dist_info().rank
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{args['out']}-rank{rank}.safetensors")
with open(f"{args['out']}-rank{rank}.json", "w") as f:
    json.dump(
        {"calls": calls, "history": result.history, "best_epoch": result.best_epoch, "global_step": result.global_step},
        f,
    )
cleanup()
