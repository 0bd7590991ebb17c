#!/usr/bin/env python3
"""The Python side of tools/bench/vs_python.sh: the official segment_anything package (PyPI),
random ViT-B weights, 1024 px, fp32 on the CPU, under the same torch as psam's pip build.

Prints "key value" lines as bench_vs_python does:
  encoder  encoder_ms: one image-encoder forward
  samples  forward_ms: encoder + prompt encoder (box) + mask decoder for one prompt, upscaled;
           samples16_ms: the same with 16 prompts in one decoder call (SAM has no latent code:
           16 perturbed prompt embeddings stand in for it); decoder1_ms / decoder16_ms: the
           decoder alone
and peak_rss_mib. Times are the best of --iters after one warm-up.
"""
import argparse
import resource
import time

import torch
import torch.nn.functional as F
from segment_anything import sam_model_registry


def best_ms(fn, iters):
    fn()
    best = float("inf")
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - t0) * 1000.0)
    return best


def decode(sam, embedding, sparse, dense):
    masks, _ = sam.mask_decoder(image_embeddings=embedding,
                                image_pe=sam.prompt_encoder.get_dense_pe(),
                                sparse_prompt_embeddings=sparse,
                                dense_prompt_embeddings=dense, multimask_output=False)
    return masks


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", required=True, choices=["encoder", "samples"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}\nthreads {torch.get_num_threads()}")
    sam = sam_model_registry["vit_b"]().eval()
    image = torch.randn(1, 3, 1024, 1024)
    with torch.no_grad():
        if a.case == "encoder":
            print(f"encoder_ms {best_ms(lambda: sam.image_encoder(image), a.iters):.1f}")
        else:
            box = torch.tensor([[300.0, 280.0, 620.0, 700.0]])
            sparse, dense = sam.prompt_encoder(points=None, boxes=box, masks=None)
            noise = torch.randn(16, 1, sparse.size(-1)) * 0.1

            def forward(n):
                embedding = sam.image_encoder(image)
                masks = decode(sam, embedding, sparse.expand(n, -1, -1) + noise[:n], dense)
                return F.interpolate(masks, (1024, 1024), mode="bilinear", align_corners=False)

            print(f"forward_ms {best_ms(lambda: forward(1), a.iters):.1f}")
            print(f"samples16_ms {best_ms(lambda: forward(16), a.iters):.1f}")
            embedding = sam.image_encoder(image)
            for n in (1, 16):
                ms = best_ms(lambda: decode(sam, embedding, sparse.expand(n, -1, -1) + noise[:n],
                                            dense), a.iters)
                print(f"decoder{n}_ms {ms:.1f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"peak_rss_mib {peak:.0f}")


if __name__ == "__main__":
    main()
