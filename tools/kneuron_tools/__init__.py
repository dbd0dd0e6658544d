"""Shared Python code of kneuron's tools: checkpoint loading, ONNX graph building, bundle writing."""
