"""The generation stage: run config → arms × samples → a run folder (manifest, generations), resumable,
cached, shardable."""
