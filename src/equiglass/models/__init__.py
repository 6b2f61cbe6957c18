"""Model families: the SE(3)-equivariant GNN, the Bapst et al. GNN and descriptor baselines.

Every family is registered in :mod:`.registry` (name, inputs, hyperparameter schema, label) and
described to the shared code by the ``SPEC`` (:class:`.spec.ModelSpec`) of its own module, so
adding a family touches the registry and the new model's file only.
"""
