;; A projection's product y = x Wᵀ on the host (linear-host.ts), in WebAssembly SIMD: x [m, k] and W
;; [n, k] as the checkpoint holds them (row-major), y [m, n]; m a multiple of 4. One call, `window`,
;; does a group of 64 of y's columns (W's rows): it packs them into the caller's scratch as panels of
;; 8 columns (k × 8 floats each, contiguous, zero past n), then runs 4 × 8 tiles down all m rows, the
;; panel streamed from the cache and four of x's entries broadcast a step. The tiles multiply and add
;; (fused into relaxed_madd in the binary the engine runs where it can: scripts/build.mjs). Offsets in
;; bytes.
(module
  ;; Shared: tfjs's heap, and the host's helper thread runs windows on it too (kernel-helper.ts).
  (import "env" "memory" (memory 1 65536 shared))

  (func (export "window") (param $b i32) (param $x i32) (param $w i32) (param $y i32)
    (param $m i32) (param $n i32) (param $k i32) (param $scratch i32)
    (local $c0 i32) (local $cols i32) (local $panels i32) (local $j i32) (local $c i32)
    (local $src i32) (local $dst i32) (local $i i32) (local $pj i32) (local $a i32) (local $p i32) (local $end i32)
    (local $ldx i32) (local $ldy i32) (local $o i32) (local $left i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $y0 v128) (local $y1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $c0 (i32.shl (local.get $b) (i32.const 6)))
    (local.set $cols (i32.sub (local.get $n) (local.get $c0)))
    (if (i32.gt_u (local.get $cols) (i32.const 64)) (then (local.set $cols (i32.const 64))))
    (local.set $panels (i32.shr_u (i32.add (local.get $cols) (i32.const 7)) (i32.const 3)))
    (local.set $ldx (i32.shl (local.get $k) (i32.const 2)))
    (local.set $ldy (i32.shl (local.get $n) (i32.const 2)))
    ;; Pack: panel j's entry (t, c) = W[c0 + 8j + c, t], at scratch + 32 (j k + t) + 4c.
    (local.set $j (i32.const 0))
    (block $pd (loop $pl
      (br_if $pd (i32.ge_u (local.get $j) (local.get $panels)))
      (local.set $c (i32.const 0))
      (block $cd (loop $cl
        (br_if $cd (i32.ge_u (local.get $c) (i32.const 8)))
        (local.set $dst (i32.add (local.get $scratch) (i32.add (i32.shl (i32.mul (local.get $j) (local.get $k)) (i32.const 5)) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 5))))
        (if (i32.lt_u (i32.add (i32.shl (local.get $j) (i32.const 3)) (local.get $c)) (local.get $cols))
          (then
            (local.set $src (i32.add (local.get $w) (i32.mul (i32.add (local.get $c0) (i32.add (i32.shl (local.get $j) (i32.const 3)) (local.get $c))) (local.get $ldx))))
            (block $td (loop $tl
              (br_if $td (i32.ge_u (local.get $dst) (local.get $end)))
              (f32.store (local.get $dst) (f32.load (local.get $src)))
              (local.set $src (i32.add (local.get $src) (i32.const 4)))
              (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
              (br $tl))))
          (else
            (block $zd (loop $zl
              (br_if $zd (i32.ge_u (local.get $dst) (local.get $end)))
              (f32.store (local.get $dst) (f32.const 0))
              (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
              (br $zl)))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $cl)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $pl)))
    ;; Tiles: rows 4i..4i+3 of x times each panel; x's four rows stay in L1 across the panels.
    (local.set $i (i32.const 0))
    (block $id (loop $il
      (br_if $id (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $pj (i32.const 0))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (local.get $pj) (local.get $panels)))
        (local.set $a (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $ldx))))
        (local.set $end (i32.add (local.get $a) (local.get $ldx)))
        (local.set $p (i32.add (local.get $scratch) (i32.shl (i32.mul (local.get $pj) (local.get $k)) (i32.const 5))))
        (local.set $c00 (v128.const i64x2 0 0)) (local.set $c01 (v128.const i64x2 0 0))
        (local.set $c10 (v128.const i64x2 0 0)) (local.set $c11 (v128.const i64x2 0 0))
        (local.set $c20 (v128.const i64x2 0 0)) (local.set $c21 (v128.const i64x2 0 0))
        (local.set $c30 (v128.const i64x2 0 0)) (local.set $c31 (v128.const i64x2 0 0))
        (block $kd (loop $kl
          (br_if $kd (i32.ge_u (local.get $a) (local.get $end)))
          (local.set $y0 (v128.load (local.get $p)))
          (local.set $y1 (v128.load offset=16 (local.get $p)))
          (local.set $x0 (v128.load32_splat (local.get $a)))
          (local.set $x1 (v128.load32_splat (i32.add (local.get $a) (local.get $ldx))))
          (local.set $x2 (v128.load32_splat (i32.add (local.get $a) (i32.shl (local.get $ldx) (i32.const 1)))))
          (local.set $x3 (v128.load32_splat (i32.add (local.get $a) (i32.mul (local.get $ldx) (i32.const 3)))))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x0) (local.get $y0))))
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x0) (local.get $y1))))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x1) (local.get $y0))))
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x1) (local.get $y1))))
          (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x2) (local.get $y0))))
          (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x2) (local.get $y1))))
          (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x3) (local.get $y0))))
          (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x3) (local.get $y1))))
          (local.set $a (i32.add (local.get $a) (i32.const 4)))
          (local.set $p (i32.add (local.get $p) (i32.const 32)))
          (br $kl)))
        ;; y's columns c0 + 8pj .. of rows 4i..4i+3; the last panel may hold fewer than 8.
        (local.set $o (i32.add (local.get $y) (i32.add (i32.mul (local.get $i) (local.get $ldy)) (i32.shl (i32.add (local.get $c0) (i32.shl (local.get $pj) (i32.const 3))) (i32.const 2)))))
        (local.set $left (i32.sub (local.get $cols) (i32.shl (local.get $pj) (i32.const 3))))
        (call $store (local.get $o) (local.get $c00) (local.get $c01) (local.get $left))
        (call $store (i32.add (local.get $o) (local.get $ldy)) (local.get $c10) (local.get $c11) (local.get $left))
        (call $store (i32.add (local.get $o) (i32.shl (local.get $ldy) (i32.const 1))) (local.get $c20) (local.get $c21) (local.get $left))
        (call $store (i32.add (local.get $o) (i32.mul (local.get $ldy) (i32.const 3))) (local.get $c30) (local.get $c31) (local.get $left))
        (local.set $pj (i32.add (local.get $pj) (i32.const 1)))
        (br $jl)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $il))))

  ;; The first `count` (all 8 when count ≥ 8) of the lanes lo, hi at o.
  (func $store (param $o i32) (param $lo v128) (param $hi v128) (param $count i32)
    (if (i32.ge_u (local.get $count) (i32.const 8))
      (then
        (v128.store (local.get $o) (local.get $lo))
        (v128.store offset=16 (local.get $o) (local.get $hi))
        (return)))
    (if (i32.gt_u (local.get $count) (i32.const 0)) (then (f32.store (local.get $o) (f32x4.extract_lane 0 (local.get $lo)))))
    (if (i32.gt_u (local.get $count) (i32.const 1)) (then (f32.store offset=4 (local.get $o) (f32x4.extract_lane 1 (local.get $lo)))))
    (if (i32.gt_u (local.get $count) (i32.const 2)) (then (f32.store offset=8 (local.get $o) (f32x4.extract_lane 2 (local.get $lo)))))
    (if (i32.gt_u (local.get $count) (i32.const 3)) (then (f32.store offset=12 (local.get $o) (f32x4.extract_lane 3 (local.get $lo)))))
    (if (i32.gt_u (local.get $count) (i32.const 4)) (then (f32.store offset=16 (local.get $o) (f32x4.extract_lane 0 (local.get $hi)))))
    (if (i32.gt_u (local.get $count) (i32.const 5)) (then (f32.store offset=20 (local.get $o) (f32x4.extract_lane 1 (local.get $hi)))))
    (if (i32.gt_u (local.get $count) (i32.const 6)) (then (f32.store offset=24 (local.get $o) (f32x4.extract_lane 2 (local.get $hi)))))))
