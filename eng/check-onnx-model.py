#!/usr/bin/python3
"""Checks exported ONNX files with the reference checker (not run in CI).

Run by hand after `apt-get install -y python3-onnx` (Debian 12 ships onnx 1.12, which knows opset 17):
    /usr/bin/python3 eng/check-onnx-model.py   # Debian's python, where python3-onnx installs runs/latest/student.onnx runs/latest/distilled-student.onnx
Each file goes through onnx.checker.check_model (full_check: with shape inference); the opset,
IR version, inputs, outputs and metadata are printed. Exits non-zero when a file fails.
"""
import sys

import onnx

failed = 0
for path in sys.argv[1:]:
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        graph = model.graph
        dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        print(f"{path}: OK (onnx {onnx.__version__}), IR {model.ir_version}, opset "
              f"{[o.version for o in model.opset_import]}, {len(graph.node)} nodes, "
              f"inputs {[(i.name, dims(i)) for i in graph.input]}, outputs {[(o.name, dims(o)) for o in graph.output]}, "
              f"producer {model.producer_name} {model.producer_version}")
        for prop in model.metadata_props:
            print(f"  {prop.key} = {prop.value}")
    except Exception as error:  # report every file, then fail
        failed += 1
        print(f"{path}: FAILED: {error}")

sys.exit(1 if failed else 0)
