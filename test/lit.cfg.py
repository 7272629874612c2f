# lit configuration of the deltajit test suite.
import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "deltajit"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.deltajit_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%deltajit_src_root", config.deltajit_src_root))
config.substitutions.append(("%deltajit_obj_root", config.deltajit_obj_root))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tool_dirs = [config.deltajit_tools_dir, config.llvm_tools_dir]
tools = ["delta-opt", "deltac"]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# delta-tune (built with the runtime): its no-GPU modes (--list, --clear,
# --candidates) and its errors where there is no driver.
if os.path.exists(os.path.join(config.deltajit_tools_dir, "delta-tune")):
    config.available_features.add("delta-tune")
    llvm_config.add_tool_substitutions(["delta-tune"], tool_dirs)

# A stand-in CUDA driver (test/runtime/FakeCudaDriver.cpp) for the runtime's
# GPU-side control flow without a GPU.
fake_cuda = os.path.join(config.deltajit_obj_root, "lib", "deltajit-fake-cuda.so")
if os.path.exists(fake_cuda):
    config.available_features.add("fake-cuda")
    config.substitutions.append(("%fake_cuda", fake_cuda))

# delta-bench (built with the runtime): its flow on the stand-in driver.
if os.path.exists(os.path.join(config.deltajit_tools_dir, "delta-bench")):
    config.available_features.add("delta-bench")
    llvm_config.add_tool_substitutions(["delta-bench"], tool_dirs)

# delta-run (built with the runtime): its arguments and the no-GPU path.
if os.path.exists(os.path.join(config.deltajit_tools_dir, "delta-run")):
    config.available_features.add("delta-run")
    llvm_config.add_tool_substitutions(["delta-run"], tool_dirs)

# ptxas (from the CUDA toolkit) lets PTX tests check that PTX assembles.
if config.ptxas_executable and os.path.exists(config.ptxas_executable):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", config.ptxas_executable))
