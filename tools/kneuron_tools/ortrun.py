"""A reference runtime over a bundle's ONNX graphs (onnxruntime, Python).

It is the algorithm the TypeScript runtime implements (docs/BUNDLE.md §4): prompt embedding,
prefill with image-position deltas, greedy decoding with the KV cache, the gradient graph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from .bundle import load_manifest


class BundleRunner:
    def __init__(self, bundle_dir: str | Path, threads: int = 1):
        self.dir = Path(bundle_dir)
        self.m = load_manifest(self.dir)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.sess = {g: ort.InferenceSession(str(self.dir / f"{g}.onnx"), opts, providers=["CPUExecutionProvider"])
                     for g in ("vision", "embed", "decoder", "gradient")}
        L = self.m["layers"]
        self.past_names = [f"past_key_values.{l}.{kv}" for l in range(L) for kv in ("key", "value")]
        self.present_names = [f"present.{l}.{kv}" for l in range(L) for kv in ("key", "value")]

    # -- pieces ---------------------------------------------------------------------------------
    def image_embeds(self, pixel_values: np.ndarray) -> np.ndarray:
        return self.sess["vision"].run(["image_embeds"], {"pixel_values": pixel_values.astype(np.float32)})[0]

    def embed(self, ids: np.ndarray) -> np.ndarray:
        return self.sess["embed"].run(["inputs_embeds"], {"input_ids": ids.astype(np.int64)})[0]

    @property
    def image_start(self) -> int:
        return len(self.m["prompt"]["prefixIds"])

    def prompt_embeds(self, image_embeds: np.ndarray, caption_prefix: list[int] | None = None) -> np.ndarray:
        """prefix ++ image embeddings ++ suffix (++ caption ids) as inputs_embeds [B,T,H]."""
        b = image_embeds.shape[0]
        pre = np.array([self.m["prompt"]["prefixIds"]] * b, dtype=np.int64).reshape(b, -1)
        suf = np.array([self.m["prompt"]["suffixIds"] + list(caption_prefix or [])] * b, dtype=np.int64).reshape(b, -1)
        parts = [self.embed(pre)] if pre.shape[1] else []
        parts.append(image_embeds)
        if suf.shape[1]:
            parts.append(self.embed(suf))
        return np.concatenate(parts, axis=1)

    def empty_past(self, b: int) -> dict:
        shape = (b, self.m["kvHeads"], 0, self.m["headDim"])
        return {n: np.zeros(shape, np.float32) for n in self.past_names}

    @property
    def has_scale(self) -> bool:
        """Bundles exported before the ablation input have no ffn_scale (docs/BUNDLE.md §4.3)."""
        return any(i.name == "ffn_scale" for i in self.sess["decoder"].get_inputs())

    @property
    def has_logits_positions(self) -> bool:
        """Bundles exported before logits_positions return logits at every position (docs/BUNDLE.md §4.3)."""
        return any(i.name == "logits_positions" for i in self.sess["decoder"].get_inputs())

    def decode_step(self, embeds, mask, positions, past, delta_mask=None, ffn_delta=None, taps=None, ffn_scale=None,
                    logits_at=None):
        """One decoder call; `taps`: positions of this call to return A at (None: no taps);
        `ffn_scale` [B,L,D] multiplies A at flagged positions (default ones); `logits_at`: positions
        to return logits at (None: every position; needs a decoder with logits_positions).
        Returns (logits [B,T or K,V], ffn_act [B,L,N,D] or None, present dict)."""
        b, t, _ = embeds.shape
        extra = {}
        if self.has_logits_positions:
            extra["logits_positions"] = np.asarray(logits_at if logits_at is not None else np.arange(t), dtype=np.int64)
        elif logits_at is not None:
            raise ValueError(f"{self.dir}: this bundle's decoder has no logits_positions input; re-export it")
        if self.has_scale:
            extra["ffn_scale"] = (ffn_scale if ffn_scale is not None
                                  else np.ones((b, self.m["layers"], self.m["ffnDim"]))).astype(np.float32)
        elif ffn_scale is not None:
            raise ValueError(f"{self.dir}: this bundle's decoder has no ffn_scale input; re-export it")
        feeds = {"inputs_embeds": embeds.astype(np.float32), "attention_mask": mask.astype(np.int64),
                 "position_ids": positions.astype(np.int64),
                 "delta_mask": (delta_mask if delta_mask is not None else np.zeros((b, t))).astype(np.float32),
                 "ffn_delta": (ffn_delta if ffn_delta is not None
                               else np.zeros((b, self.m["layers"], self.m["ffnDim"]))).astype(np.float32),
                 "tap_positions": np.asarray(taps if taps is not None else [], dtype=np.int64),
                 **extra, **past}
        names = ["logits"] + (["ffn_act"] if taps is not None else []) + self.present_names
        out = self.sess["decoder"].run(names, feeds)
        logits, rest = out[0], out[1:]
        act = rest.pop(0) if taps is not None else None
        return logits, act, dict(zip(self.past_names, rest))

    # -- the runtime's operations ----------------------------------------------------------------
    def prefill(self, pixel_values, ffn_delta=None, taps=True, ffn_scale=None):
        """Prompt + image; delta at image positions. Returns logits [B,T,V], A at image positions
        [B,L,P,D] (taps) and the KV cache."""
        emb = self.prompt_embeds(self.image_embeds(pixel_values))
        b, t, _ = emb.shape
        s, P = self.image_start, self.m["imageTokens"]
        dmask = np.zeros((b, t), np.float32)
        dmask[:, s:s + P] = 1.0
        logits, act, past = self.decode_step(emb, np.ones((b, t)), np.tile(np.arange(t), (b, 1)), self.empty_past(b),
                                             dmask, ffn_delta, np.arange(s, s + P) if taps else None, ffn_scale)
        return logits, act, past

    def greedy(self, pixel_values, max_new_tokens: int, ffn_delta=None, ffn_scale=None) -> list[list[int]]:
        logits, _, past = self.prefill(pixel_values, ffn_delta, taps=False, ffn_scale=ffn_scale)
        b, t = logits.shape[0], logits.shape[1]
        eos = self.m["eosId"]
        out, done = [[] for _ in range(b)], [False] * b
        for step in range(max_new_tokens):
            nxt = logits[:, -1].argmax(-1)
            for r in range(b):
                if not done[r]:
                    if int(nxt[r]) == eos:
                        done[r] = True
                    else:
                        out[r].append(int(nxt[r]))
            if all(done) or step == max_new_tokens - 1:
                break
            pos = t + step
            logits, _, past = self.decode_step(self.embed(nxt[:, None]), np.ones((b, pos + 1)),
                                               np.full((b, 1), pos), past)
        return out

    def gradient(self, pixel_values, caption_prefix: list[int], target_id: int):
        """z, A [L,P,D], dz/dA [L,P,D] for image 0 teacher-forced on caption_prefix."""
        emb = self.prompt_embeds(self.image_embeds(pixel_values[:1]), caption_prefix)
        t = emb.shape[1]
        z, act, grad = self.sess["gradient"].run(["z", "act", "grad"], {
            "inputs_embeds": emb.astype(np.float32), "attention_mask": np.ones((1, t), np.int64),
            "position_ids": np.arange(t, dtype=np.int64)[None], "image_start": np.array(self.image_start, np.int64),
            "target_pos": np.array(t - 1, np.int64), "target_id": np.array(target_id, np.int64)})
        return z, act, grad
