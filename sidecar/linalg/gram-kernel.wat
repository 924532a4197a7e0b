;; The Gram matrix's products (gram-kernel.ts) in WebAssembly SIMD, four floats per instruction: the
;; calibration inputs are float32, and a slab of rows' products is summed in float32, then added to
;; the float64 Gram. Only the upper triangle's 4 × 8 tiles are computed (half the products), and of
;; those only a band of G's rows, so that the float64 block in memory stays small at any width. The
;; slab is read as the rows come (row-major): a tile's two streams are strided, which measured as
;; fast as packing them contiguous, and the packing loop's time is gone. The tiles' multiply-adds
;; are fused into relaxed_madd in the binary the engine runs where it can (scripts/build.mjs,
;; wasm-kernel.ts): each slab sum then rounds once a row, where the plain binary rounds twice.
(module
  (import "env" "memory" (memory 1))
  ;; G's rows 4gi0 .. 4gi1 − 1, every column from the first tile on the diagonal to wide (a multiple
  ;; of 8), += Pᵀ P for the slab P of `rows` rows. Column c of P's row t is at p + t·ldp + 4c, and
  ;; G's entry (i, c) at g + (i − 4gi0)·ldg + 8c: p and g may point before the memory's data (i32
  ;; arithmetic wraps), as only columns from 8 floor(gi0 / 2) on are read or written. Offsets in bytes.
  (func (export "gram") (param $p i32) (param $rows i32) (param $ldp i32) (param $g i32) (param $ldg i32)
    (param $gi0 i32) (param $gi1 i32) (param $wide i32)
    (local $gi i32) (local $jb i32) (local $a i32) (local $b i32) (local $end i32) (local $o i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $y0 v128) (local $y1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $gi (local.get $gi0))
    (block $idone (loop $il
      (br_if $idone (i32.ge_u (local.get $gi) (local.get $gi1)))
      ;; The first 8-column block that reaches the diagonal of rows 4gi..4gi+3.
      (local.set $jb (i32.shr_u (local.get $gi) (i32.const 1)))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_u (i32.shl (local.get $jb) (i32.const 3)) (local.get $wide)))
        ;; Columns 4gi..4gi+3 and 8jb..8jb+7 of row 0; each next row is $ldp further.
        (local.set $a (i32.add (local.get $p) (i32.shl (local.get $gi) (i32.const 4))))
        (local.set $b (i32.add (local.get $p) (i32.shl (local.get $jb) (i32.const 5))))
        (local.set $end (i32.add (local.get $a) (i32.mul (local.get $rows) (local.get $ldp))))
        (local.set $c00 (v128.const i64x2 0 0)) (local.set $c01 (v128.const i64x2 0 0))
        (local.set $c10 (v128.const i64x2 0 0)) (local.set $c11 (v128.const i64x2 0 0))
        (local.set $c20 (v128.const i64x2 0 0)) (local.set $c21 (v128.const i64x2 0 0))
        (local.set $c30 (v128.const i64x2 0 0)) (local.set $c31 (v128.const i64x2 0 0))
        (block $tdone (loop $tl
          (br_if $tdone (i32.ge_u (local.get $a) (local.get $end)))
          (local.set $y0 (v128.load (local.get $b)))
          (local.set $y1 (v128.load offset=16 (local.get $b)))
          (local.set $x0 (v128.load32_splat (local.get $a)))
          (local.set $x1 (v128.load32_splat offset=4 (local.get $a)))
          (local.set $x2 (v128.load32_splat offset=8 (local.get $a)))
          (local.set $x3 (v128.load32_splat offset=12 (local.get $a)))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x0) (local.get $y0))))
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x0) (local.get $y1))))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x1) (local.get $y0))))
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x1) (local.get $y1))))
          (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x2) (local.get $y0))))
          (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x2) (local.get $y1))))
          (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x3) (local.get $y0))))
          (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x3) (local.get $y1))))
          (local.set $a (i32.add (local.get $a) (local.get $ldp)))
          (local.set $b (i32.add (local.get $b) (local.get $ldp)))
          (br $tl)))
        (local.set $o (i32.add (local.get $g) (i32.add (i32.mul (i32.shl (i32.sub (local.get $gi) (local.get $gi0)) (i32.const 2)) (local.get $ldg)) (i32.shl (local.get $jb) (i32.const 6)))))
        (call $add8 (local.get $o) (local.get $c00) (local.get $c01))
        (call $add8 (i32.add (local.get $o) (local.get $ldg)) (local.get $c10) (local.get $c11))
        (call $add8 (i32.add (local.get $o) (i32.shl (local.get $ldg) (i32.const 1))) (local.get $c20) (local.get $c21))
        (call $add8 (i32.add (local.get $o) (i32.mul (local.get $ldg) (i32.const 3))) (local.get $c30) (local.get $c31))
        (local.set $jb (i32.add (local.get $jb) (i32.const 1)))
        (br $jl)))
      (local.set $gi (i32.add (local.get $gi) (i32.const 1)))
      (br $il))))

  ;; The eight float64 at o += the float32 lanes of lo and hi.
  (func $add8 (param $o i32) (param $lo v128) (param $hi v128)
    (v128.store (local.get $o) (f64x2.add (v128.load (local.get $o)) (f64x2.promote_low_f32x4 (local.get $lo))))
    (v128.store offset=16 (local.get $o) (f64x2.add (v128.load offset=16 (local.get $o))
      (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $lo) (local.get $lo)))))
    (v128.store offset=32 (local.get $o) (f64x2.add (v128.load offset=32 (local.get $o)) (f64x2.promote_low_f32x4 (local.get $hi))))
    (v128.store offset=48 (local.get $o) (f64x2.add (v128.load offset=48 (local.get $o))
      (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $hi) (local.get $hi)))))))
