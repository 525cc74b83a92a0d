"""Learning to optimise: the training side of PIE and PerfRL.

Modules, in the order the data flows:

* :mod:`~perfedit.training.mining`: slow→fast pairs from submission trajectories (PIE,
  section 2.1) and from a git repository's history;
* :mod:`~perfedit.training.pairs`: pair files (PIE JSONL or a user's own), the tests-pass filter,
  and rendering a pair as the exact prompt the model proposer sends, with labels on the reply;
* :mod:`~perfedit.training.recipe`: the hyper-parameters of a run, read from a TOML recipe;
* :mod:`~perfedit.training.scoring`: per-token and per-sequence log-probabilities of replies;
* :mod:`~perfedit.training.sft`: LoRA supervised fine-tuning (PIE, section 3), checkpoints, resume;
* :mod:`~perfedit.training.rewards`: PerfRL's reward tiers from the validation harness;
* :mod:`~perfedit.training.rrhf`: the RRHF loss and PerfRL's training loop (PerfRL, section 4);
* :mod:`~perfedit.training.evaluate`: PIE's metrics for a model or adapter on a pair file;
* :mod:`~perfedit.training.export`: a trained adapter's files for ``models/<name>/``.

The heavy dependencies (torch, transformers, peft) are imported by the modules that need them,
so ``perfedit data pairs`` and ``perfedit evaluate --help`` stay quick.
"""
