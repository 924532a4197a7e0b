;; The register kernel of gemmStrided (matrix.ts) in WebAssembly SIMD: two doubles per instruction,
;; compiled by V8 to straight SSE/AVX code (scalar JavaScript keeps one double per instruction).
;; Written as multiply then add; scripts/build.mjs also assembles it with each tile's pair fused into
;; one relaxed_madd (one rounding; an FMA instruction where the CPU has one), which the engine runs
;; where V8 compiles relaxed SIMD (wasm-kernel.ts fusedKernels).
(module
  (import "env" "memory" (memory 1))
  ;; C (m4 × n4, row-major, row stride n4) = A · Bᵀ over kl terms, where A (m4 × kl) and B (n4 × kl)
  ;; are packed four rows interleaved: element (r, t) of a group of four rows at group·kl + 4t + r.
  ;; Offsets in bytes, m4 and n4 multiples of four. C is written, not accumulated.
  (func (export "panel") (param $ap i32) (param $bp i32) (param $cp i32) (param $m4 i32) (param $n4 i32) (param $kl i32)
    (local $j i32) (local $i i32) (local $a i32) (local $b i32) (local $end i32) (local $o i32) (local $ldc i32)
    (local $y0 v128) (local $y1 v128) (local $x v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $ldc (i32.shl (local.get $n4) (i32.const 3)))
    ;; Four columns of B (kl × 4 doubles) stay in L1 while the four-row groups of A stream past.
    (local.set $j (i32.const 0))
    (block $jdone (loop $jl
      (br_if $jdone (i32.ge_u (local.get $j) (local.get $n4)))
      (local.set $i (i32.const 0))
      (block $idone (loop $il
        (br_if $idone (i32.ge_u (local.get $i) (local.get $m4)))
        (local.set $a (i32.add (local.get $ap) (i32.shl (i32.mul (local.get $i) (local.get $kl)) (i32.const 3))))
        (local.set $b (i32.add (local.get $bp) (i32.shl (i32.mul (local.get $j) (local.get $kl)) (i32.const 3))))
        (local.set $end (i32.add (local.get $a) (i32.shl (local.get $kl) (i32.const 5))))
        (local.set $c00 (v128.const i64x2 0 0)) (local.set $c01 (v128.const i64x2 0 0))
        (local.set $c10 (v128.const i64x2 0 0)) (local.set $c11 (v128.const i64x2 0 0))
        (local.set $c20 (v128.const i64x2 0 0)) (local.set $c21 (v128.const i64x2 0 0))
        (local.set $c30 (v128.const i64x2 0 0)) (local.set $c31 (v128.const i64x2 0 0))
        ;; A 4 × 4 tile in eight registers of two: row r of A's group times columns (0 1) and (2 3) of B's.
        (block $tdone (loop $tl
          (br_if $tdone (i32.ge_u (local.get $a) (local.get $end)))
          (local.set $y0 (v128.load (local.get $b)))
          (local.set $y1 (v128.load offset=16 (local.get $b)))
          (local.set $x (v128.load64_splat (local.get $a)))
          (local.set $c00 (f64x2.add (local.get $c00) (f64x2.mul (local.get $x) (local.get $y0))))
          (local.set $c01 (f64x2.add (local.get $c01) (f64x2.mul (local.get $x) (local.get $y1))))
          (local.set $x (v128.load64_splat offset=8 (local.get $a)))
          (local.set $c10 (f64x2.add (local.get $c10) (f64x2.mul (local.get $x) (local.get $y0))))
          (local.set $c11 (f64x2.add (local.get $c11) (f64x2.mul (local.get $x) (local.get $y1))))
          (local.set $x (v128.load64_splat offset=16 (local.get $a)))
          (local.set $c20 (f64x2.add (local.get $c20) (f64x2.mul (local.get $x) (local.get $y0))))
          (local.set $c21 (f64x2.add (local.get $c21) (f64x2.mul (local.get $x) (local.get $y1))))
          (local.set $x (v128.load64_splat offset=24 (local.get $a)))
          (local.set $c30 (f64x2.add (local.get $c30) (f64x2.mul (local.get $x) (local.get $y0))))
          (local.set $c31 (f64x2.add (local.get $c31) (f64x2.mul (local.get $x) (local.get $y1))))
          (local.set $a (i32.add (local.get $a) (i32.const 32)))
          (local.set $b (i32.add (local.get $b) (i32.const 32)))
          (br $tl)))
        (local.set $o (i32.add (local.get $cp) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n4)) (local.get $j)) (i32.const 3))))
        (v128.store (local.get $o) (local.get $c00)) (v128.store offset=16 (local.get $o) (local.get $c01))
        (local.set $o (i32.add (local.get $o) (local.get $ldc)))
        (v128.store (local.get $o) (local.get $c10)) (v128.store offset=16 (local.get $o) (local.get $c11))
        (local.set $o (i32.add (local.get $o) (local.get $ldc)))
        (v128.store (local.get $o) (local.get $c20)) (v128.store offset=16 (local.get $o) (local.get $c21))
        (local.set $o (i32.add (local.get $o) (local.get $ldc)))
        (v128.store (local.get $o) (local.get $c30)) (v128.store offset=16 (local.get $o) (local.get $c31))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $il)))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $jl)))))
