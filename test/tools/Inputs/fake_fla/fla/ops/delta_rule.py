"""A stand-in for FLA's delta-rule ops: "times" are 1 ms per 1024 tokens of
the batch (forward; 2 ms with a final state) and 0.1 ms per decode call;
calls without the kernel's q/k L2 norm fail. Under a CUDA graph capture a
call is recorded at half its time; the varlen call cannot be captured (as
FLA's, which reads cu_seqlens on the host)."""
import torch


def chunk_delta_rule(q, k, v, beta, initial_state=None, output_final_state=False,
                     cu_seqlens=None, use_qk_l2norm_in_kernel=False):
    assert use_qk_l2norm_in_kernel
    B, T = q.shape[0], q.shape[1]
    if cu_seqlens is not None:
        assert B == 1 and initial_state is None
    ms = B * T / 1024 * (2.0 if output_final_state else 1.0)
    return _captured(ms, cu_seqlens is None)


def fused_recurrent_delta_rule(q, k, v, beta, initial_state=None,
                               output_final_state=False,
                               use_qk_l2norm_in_kernel=False):
    assert use_qk_l2norm_in_kernel and q.shape[1] == 1
    return _captured(0.1, True)


def _captured(ms, capturable):
    graph = torch.cuda.capturing()
    if graph is not None:
        if not capturable:
            raise RuntimeError("operation not permitted when stream is capturing")
        graph.ms = ms / 2
    return ms
