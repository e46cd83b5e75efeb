"""Training building blocks shared by ``trainers/`` and the app: on-device tensors, batched augmentation, losses."""
