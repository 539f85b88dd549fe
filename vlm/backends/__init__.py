"""Model backends behind one interface (:class:`vlm.backends.base.VLMBackend`)."""
