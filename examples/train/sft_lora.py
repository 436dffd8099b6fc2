#!/usr/bin/env python3
"""LoRA supervised fine-tuning of an open-weight chat model on asmgraph's dataset, with TRL and PEFT.

Run by a `finetune` target with `backend: command` (see README.md beside this file):

    command: python3 "$PROJECT_ROOT/examples/train/sft_lora.py" --output-dir "$PROJECT_ROOT/models/asm-lora"

It reads $TRAIN and $VALID (chat-messages JSONL, as `dataset` writes them), $BASE_MODEL (a Hugging
Face model id or path) and $HYPERPARAMETERS (JSON: n_epochs, learning_rate, batch_size), trains
LoRA adapters with the loss on the assistant turns only, saves a checkpoint per epoch, and writes the
final adapter folder to $OUT. Progress, loss and checkpoints go to stdout as JSON lines (the protocol
in tasks/lib/trainer-protocol.ts), which asmgraph shows live and keeps in the node's log.

Not run on the project's machines (no GPU, no Python ML stack there): the protocol is tested with a
stand-in trainer (test/fixtures/stand-in-trainer.mjs) instead. Check it on a small model first.
"""
import argparse
import json
import math
import os
import sys


def say(**fields):
    """One protocol line on stdout."""
    print(json.dumps(fields), flush=True)


def load_jsonl(path):
    if not path:
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def to_prompt_completion(example):
    """messages → {prompt: every turn before the last assistant turn, completion: that turn}.

    TRL computes the loss on the completion only for prompt-completion data (completion_only_loss),
    which works with every chat template; `assistant_only_loss` on plain messages needs a template with
    {% generation %} markers, which most open models' templates lack (trl#4879).
    """
    msgs = example["messages"]
    last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    return {"prompt": msgs[:last], "completion": [msgs[last]]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output-dir", required=True, help="where checkpoints and the final adapter go (kept after the run)")
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--lora-alpha", type=int, default=32)
    ap.add_argument("--lora-dropout", type=float, default=0.05)
    ap.add_argument("--merge", action="store_true", help="also save the base model with the adapter merged in (for llama.cpp's GGUF conversion)")
    args = ap.parse_args()

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    base = os.environ["BASE_MODEL"]
    hp = json.loads(os.environ.get("HYPERPARAMETERS") or "{}")
    epochs = hp.get("n_epochs") if isinstance(hp.get("n_epochs"), int) else 3
    lr = hp.get("learning_rate") if isinstance(hp.get("learning_rate"), (int, float)) else 2e-4
    batch = hp.get("batch_size") if isinstance(hp.get("batch_size"), int) else 1

    train_rows = [to_prompt_completion(e) for e in load_jsonl(os.environ["TRAIN"])]
    valid_rows = [to_prompt_completion(e) for e in load_jsonl(os.environ.get("VALID"))]
    tokenizer = AutoTokenizer.from_pretrained(base)

    # Max length from the dataset's longest example, so that no example is truncated: TRL's loss mask
    # misbehaves on truncated examples (trl#3927), and a cut answer teaches an unfinished program.
    def length(row):
        return len(tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=True))

    max_length = max(length(r) for r in train_rows + valid_rows)
    steps_per_epoch = math.ceil(len(train_rows) / batch)
    say(event="start", examples=len(train_rows), epochs=epochs, total_steps=steps_per_epoch * epochs, max_length=max_length)

    class Protocol(TrainerCallback):
        def on_log(self, cfg, state, control, logs=None, **kw):
            logs = logs or {}
            line = {"event": "loss", "epoch": round(state.epoch or 0, 2), "step": state.global_step, "total_steps": state.max_steps}
            for k in ("loss", "eval_loss", "learning_rate"):
                if isinstance(logs.get(k), (int, float)):
                    line[k] = logs[k]
            if len(line) > 4:
                say(**line)

        def on_step_end(self, cfg, state, control, **kw):
            if state.global_step % max(1, state.max_steps // 50) == 0:
                say(event="progress", epoch=round(state.epoch or 0, 2), step=state.global_step, total_steps=state.max_steps)

        def on_save(self, cfg, state, control, **kw):
            say(event="checkpoint", epoch=round(state.epoch or 0, 2), step=state.global_step,
                path=os.path.join(cfg.output_dir, f"checkpoint-{state.global_step}"))

    config = SFTConfig(
        output_dir=args.output_dir,
        num_train_epochs=epochs,
        learning_rate=lr,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=max(1, 8 // batch),
        max_length=max_length,
        completion_only_loss=True,
        save_strategy="epoch",
        eval_strategy="epoch" if valid_rows else "no",
        logging_steps=max(1, steps_per_epoch // 10),
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        gradient_checkpointing=True,
        report_to="none",
        disable_tqdm=True,
    )
    peft_config = LoraConfig(
        r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
        target_modules="all-linear", task_type="CAUSAL_LM",
    )
    trainer = SFTTrainer(
        model=base,
        args=config,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(valid_rows) if valid_rows else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[Protocol()],
    )
    trainer.train()
    final = os.path.join(args.output_dir, "final")
    trainer.save_model(final)
    tokenizer.save_pretrained(final)
    model_path = final
    if args.merge:
        merged = os.path.join(args.output_dir, "merged")
        trainer.model.merge_and_unload().save_pretrained(merged)
        tokenizer.save_pretrained(merged)
        model_path = merged
    say(event="done", model=model_path)
    with open(os.environ["OUT"], "w", encoding="utf-8") as f:
        f.write(model_path + "\n")


if __name__ == "__main__":
    sys.exit(main())
