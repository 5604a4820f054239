"""nerfstudio pipelines: meta-training the initializer, and refining one scene from its prediction."""
