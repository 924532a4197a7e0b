;; Causal attention on the host (attention-host.ts), in WebAssembly SIMD: rope applied to the heads
;; in place, and for one (window, head) at a time the scores on the causal triangle's tiles only, the
;; softmax with its exponential in SIMD, and the probabilities times the values, with no tfjs op
;; between them. Float32 throughout, as tfjs's. Shapes: R query rows (a multiple of 4), D the head
;; dimension (a multiple of 8), TP = R rounded up to a multiple of 8. Matrices row-major with the
;; given row strides; offsets and strides in bytes. The scores' and values' tiles are fused into
;; relaxed_madd in the binary the engine runs where it can (scripts/build.mjs, wasm-kernel.ts).
(module
  ;; Shared: the host's helper thread runs windows on the same memory (kernel-helper.ts).
  (import "env" "memory" (memory 1 65536 shared))

  ;; S (R × TP at s) = Q Kᵀ on the 4 × 8 tiles that reach the diagonal or below it: Q (R × D at q,
  ;; row stride ldq), Kᵀ (D × TP at kt). Tiles entirely above the diagonal are not written.
  (func $scores (export "scores") (param $q i32) (param $ldq i32) (param $kt i32) (param $s i32) (param $rows i32) (param $tp i32) (param $dp i32)
    (local $ib i32) (local $jb i32) (local $jend i32) (local $a i32) (local $b i32) (local $aend i32)
    (local $ldk i32) (local $o i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $y0 v128) (local $y1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $ldk (i32.shl (local.get $tp) (i32.const 2)))
    (block $idone (loop $il
      (br_if $idone (i32.ge_u (i32.shl (local.get $ib) (i32.const 2)) (local.get $rows)))
      ;; Rows 4ib..4ib+3 reach key columns 0..4ib+3: the 8-column blocks 0..floor(ib/2).
      (local.set $jend (i32.add (i32.shr_u (local.get $ib) (i32.const 1)) (i32.const 1)))
      (local.set $jb (i32.const 0))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_u (local.get $jb) (local.get $jend)))
        (local.set $a (i32.add (local.get $q) (i32.mul (i32.shl (local.get $ib) (i32.const 2)) (local.get $ldq))))
        (local.set $aend (i32.add (local.get $a) (i32.shl (local.get $dp) (i32.const 2))))
        (local.set $b (i32.add (local.get $kt) (i32.shl (local.get $jb) (i32.const 5))))
        (local.set $c00 (v128.const i64x2 0 0)) (local.set $c01 (v128.const i64x2 0 0))
        (local.set $c10 (v128.const i64x2 0 0)) (local.set $c11 (v128.const i64x2 0 0))
        (local.set $c20 (v128.const i64x2 0 0)) (local.set $c21 (v128.const i64x2 0 0))
        (local.set $c30 (v128.const i64x2 0 0)) (local.set $c31 (v128.const i64x2 0 0))
        (block $tdone (loop $tl
          (br_if $tdone (i32.ge_u (local.get $a) (local.get $aend)))
          (local.set $y0 (v128.load (local.get $b)))
          (local.set $y1 (v128.load offset=16 (local.get $b)))
          (local.set $x0 (v128.load32_splat (local.get $a)))
          (local.set $x1 (v128.load32_splat (i32.add (local.get $a) (local.get $ldq))))
          (local.set $x2 (v128.load32_splat (i32.add (local.get $a) (i32.shl (local.get $ldq) (i32.const 1)))))
          (local.set $x3 (v128.load32_splat (i32.add (local.get $a) (i32.mul (local.get $ldq) (i32.const 3)))))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x0) (local.get $y0))))
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x0) (local.get $y1))))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x1) (local.get $y0))))
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x1) (local.get $y1))))
          (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x2) (local.get $y0))))
          (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x2) (local.get $y1))))
          (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x3) (local.get $y0))))
          (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x3) (local.get $y1))))
          (local.set $a (i32.add (local.get $a) (i32.const 4)))
          (local.set $b (i32.add (local.get $b) (local.get $ldk)))
          (br $tl)))
        (local.set $o (i32.add (local.get $s) (i32.add (i32.mul (i32.shl (local.get $ib) (i32.const 2)) (local.get $ldk)) (i32.shl (local.get $jb) (i32.const 5)))))
        (v128.store (local.get $o) (local.get $c00))
        (v128.store offset=16 (local.get $o) (local.get $c01))
        (local.set $o (i32.add (local.get $o) (local.get $ldk)))
        (v128.store (local.get $o) (local.get $c10))
        (v128.store offset=16 (local.get $o) (local.get $c11))
        (local.set $o (i32.add (local.get $o) (local.get $ldk)))
        (v128.store (local.get $o) (local.get $c20))
        (v128.store offset=16 (local.get $o) (local.get $c21))
        (local.set $o (i32.add (local.get $o) (local.get $ldk)))
        (v128.store (local.get $o) (local.get $c30))
        (v128.store offset=16 (local.get $o) (local.get $c31))
        (local.set $jb (i32.add (local.get $jb) (i32.const 1)))
        (br $jl)))
      (local.set $ib (i32.add (local.get $ib) (i32.const 1)))
      (br $il))))

  ;; Row i of S becomes exp(S(i, j) − max_j' S(i, j')) over its causal entries j ≤ i, and 0 from i+1
  ;; to the end of its block of four rows (4·floor(i/4) + 3), so that a block's rows all end at the
  ;; same column; z (R floats) gets 1 / Σ_j. Entries past the block are left as they were.
  ;; The exponential is Cephes' expf (Cody–Waite reduction by ln 2, degree-7 polynomial; about
  ;; 1 ulp), inlined, its rounding and 2ⁿ by integer arithmetic on the float bits; below −87 (where e^x leaves float32's normal range) and at −∞ it is exactly 0.
  (func $softmax (export "softmax") (param $s i32) (param $rows i32) (param $tp i32) (param $z i32)
    (local $i i32) (local $row i32) (local $j i32) (local $end i32)
    (local $m v128) (local $sum v128) (local $x v128) (local $t v128) (local $n v128) (local $r v128) (local $p v128)
    (block $idone (loop $il
      (br_if $idone (i32.ge_u (local.get $i) (local.get $rows)))
      (local.set $row (i32.add (local.get $s) (i32.mul (local.get $i) (i32.shl (local.get $tp) (i32.const 2)))))
      (local.set $end (i32.add (local.get $row) (i32.shl (i32.and (i32.add (local.get $i) (i32.const 4)) (i32.const -4)) (i32.const 2))))
      ;; Entries i+1 .. end−1 masked to −∞.
      (local.set $j (i32.add (local.get $row) (i32.shl (i32.add (local.get $i) (i32.const 1)) (i32.const 2))))
      (block $mdone (loop $ml
        (br_if $mdone (i32.ge_u (local.get $j) (local.get $end)))
        (f32.store (local.get $j) (f32.const -inf))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $ml)))
      (local.set $m (v128.const f32x4 -inf -inf -inf -inf))
      (local.set $j (local.get $row))
      (block $xdone (loop $xl
        (br_if $xdone (i32.ge_u (local.get $j) (local.get $end)))
        (local.set $m (f32x4.pmax (local.get $m) (v128.load (local.get $j))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $xl)))
      (local.set $m (f32x4.pmax (local.get $m) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $m) (local.get $m))))
      (local.set $m (f32x4.pmax (local.get $m) (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $m) (local.get $m))))
      (local.set $sum (v128.const i64x2 0 0))
      (local.set $j (local.get $row))
      (block $edone (loop $el
        (br_if $edone (i32.ge_u (local.get $j) (local.get $end)))
        (local.set $x (f32x4.sub (v128.load (local.get $j)) (local.get $m)))
        ;; t = x log2(e) + 1.5·2²³ rounds to an integer n in t's low mantissa bits: n = t − 1.5·2²³.
        (local.set $t (f32x4.add (f32x4.mul (local.get $x) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341))
          (v128.const f32x4 12582912 12582912 12582912 12582912)))
        (local.set $n (f32x4.sub (local.get $t) (v128.const f32x4 12582912 12582912 12582912 12582912)))
        (local.set $r (f32x4.sub (local.get $x) (f32x4.mul (local.get $n) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))
        (local.set $r (f32x4.add (local.get $r) (f32x4.mul (local.get $n) (v128.const f32x4 2.12194440e-4 2.12194440e-4 2.12194440e-4 2.12194440e-4))))
        (local.set $p (f32x4.add (f32x4.mul (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4) (local.get $r))
          (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
        ;; p r² + r + 1, times 2ⁿ (n + 127 in the exponent bits: t's bits less 1.5·2²³'s, 0x4b400000,
        ;; plus 127), and 0 where x ≤ −87.
        (local.set $p (f32x4.add (f32x4.add (f32x4.mul (local.get $p) (f32x4.mul (local.get $r) (local.get $r))) (local.get $r))
          (v128.const f32x4 1 1 1 1)))
        (local.set $p (v128.and
          (f32x4.mul (local.get $p) (i32x4.shl (i32x4.sub (local.get $t) (v128.const i32x4 0x4b3fff81 0x4b3fff81 0x4b3fff81 0x4b3fff81)) (i32.const 23)))
          (f32x4.gt (local.get $x) (v128.const f32x4 -87 -87 -87 -87))))
        (v128.store (local.get $j) (local.get $p))
        (local.set $sum (f32x4.add (local.get $sum) (local.get $p)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $el)))
      (f32.store (i32.add (local.get $z) (i32.shl (local.get $i) (i32.const 2)))
        (f32.div (f32.const 1)
          (f32.add (f32.add (f32x4.extract_lane 0 (local.get $sum)) (f32x4.extract_lane 1 (local.get $sum)))
                   (f32.add (f32x4.extract_lane 2 (local.get $sum)) (f32x4.extract_lane 3 (local.get $sum))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $il))))

  ;; Rows (rows × heads·D at x, contiguous) rotated in place head by head, rotate-half as in
  ;; transformers, and times mul: with h = D/2, x_j ← (x_j cos_tj − x_{j+h} sin_tj)·mul and
  ;; x_{j+h} ← (x_{j+h} cos_t(j+h) + x_j sin_t(j+h))·mul, t = row mod T, cos and sin T × D at c and sn.
  ;; x cos and rot sin are the products tfjs's rope forms, rounded alike.
  (func (export "rope") (param $x i32) (param $rows i32) (param $heads i32) (param $dp i32) (param $T i32) (param $c i32) (param $sn i32) (param $mul f32)
    (local $r i32) (local $t i32) (local $hd i32) (local $j i32) (local $a i32) (local $b i32) (local $ct i32) (local $st i32) (local $half i32) (local $end i32)
    (local $va v128) (local $vb v128) (local $k v128)
    (local.set $k (f32x4.splat (local.get $mul)))
    (local.set $half (i32.shl (local.get $dp) (i32.const 1)))
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $ct (i32.add (local.get $c) (i32.mul (local.get $t) (i32.shl (local.get $dp) (i32.const 2)))))
      (local.set $st (i32.add (local.get $sn) (i32.mul (local.get $t) (i32.shl (local.get $dp) (i32.const 2)))))
      (local.set $hd (i32.const 0))
      (block $hdone (loop $hl
        (br_if $hdone (i32.ge_u (local.get $hd) (local.get $heads)))
        (local.set $a (local.get $x))
        (local.set $end (i32.add (local.get $x) (local.get $half)))
        (local.set $j (i32.const 0))
        (block $jdone (loop $jl
          (br_if $jdone (i32.ge_u (local.get $a) (local.get $end)))
          (local.set $b (i32.add (local.get $a) (local.get $half)))
          (local.set $va (v128.load (local.get $a)))
          (local.set $vb (v128.load (local.get $b)))
          (v128.store (local.get $a) (f32x4.mul (local.get $k) (f32x4.sub
            (f32x4.mul (local.get $va) (v128.load (i32.add (local.get $ct) (local.get $j))))
            (f32x4.mul (local.get $vb) (v128.load (i32.add (local.get $st) (local.get $j)))))))
          (v128.store (local.get $b) (f32x4.mul (local.get $k) (f32x4.add
            (f32x4.mul (local.get $vb) (v128.load (i32.add (local.get $ct) (i32.add (local.get $j) (local.get $half)))))
            (f32x4.mul (local.get $va) (v128.load (i32.add (local.get $st) (i32.add (local.get $j) (local.get $half))))))))
          (local.set $a (i32.add (local.get $a) (i32.const 16)))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $jl)))
        (local.set $x (i32.add (local.get $x) (i32.shl (local.get $dp) (i32.const 2))))
        (local.set $hd (i32.add (local.get $hd) (i32.const 1)))
        (br $hl)))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (if (i32.eq (local.get $t) (local.get $T)) (then (local.set $t (i32.const 0))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl))))

  ;; count floats at x times mul, in place (count a multiple of 4).
  (func (export "scale") (param $x i32) (param $count i32) (param $mul f32)
    (local $end i32) (local $k v128)
    (local.set $k (f32x4.splat (local.get $mul)))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $count) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (v128.store (local.get $x) (f32x4.mul (v128.load (local.get $x)) (local.get $k)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (br $l))))

  ;; Kᵀ (D × TP at kt) from K (rows × D at k, row stride ldk): Kᵀ(d, t) = K(t, d) for t < rows; the
  ;; other columns are left as they are.
  (func $transpose (export "transpose") (param $k i32) (param $ldk i32) (param $rows i32) (param $dp i32) (param $kt i32) (param $tp i32)
    (local $t i32) (local $d i32) (local $src i32) (local $dst i32) (local $ldt i32)
    (local.set $ldt (i32.shl (local.get $tp) (i32.const 2)))
    (block $tdone (loop $tl
      (br_if $tdone (i32.ge_u (local.get $t) (local.get $rows)))
      (local.set $src (i32.add (local.get $k) (i32.mul (local.get $t) (local.get $ldk))))
      (local.set $dst (i32.add (local.get $kt) (i32.shl (local.get $t) (i32.const 2))))
      (local.set $d (i32.const 0))
      (block $ddone (loop $dl
        (br_if $ddone (i32.ge_u (local.get $d) (local.get $dp)))
        (f32.store (local.get $dst) (f32.load (local.get $src)))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (local.set $dst (i32.add (local.get $dst) (local.get $ldt)))
        (local.set $d (i32.add (local.get $d) (i32.const 1)))
        (br $dl)))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br $tl))))

  ;; O (R × D at o, row stride ldo) = diag(zinv) · P V, with P the softmax's rows (R × TP at s: row
  ;; block ib read up to column 4ib+3) and V (R × D at v, row stride ldv). Its 4 × 8 tile loop is
  ;; the scores' one, written out again: as one function returning the eight sums (multi-value) the
  ;; attention took 8.1–8.3 ms against 7.3–7.6 ms (8 windows × 256 tokens, throwaway probe).
  (func $values (export "values") (param $s i32) (param $v i32) (param $ldv i32) (param $o i32) (param $ldo i32) (param $z i32) (param $rows i32) (param $tp i32) (param $dp i32)
    (local $ib i32) (local $cb i32) (local $a i32) (local $b i32) (local $aend i32) (local $lds i32) (local $out i32) (local $zr i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $y0 v128) (local $y1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $lds (i32.shl (local.get $tp) (i32.const 2)))
    (block $idone (loop $il
      (br_if $idone (i32.ge_u (i32.shl (local.get $ib) (i32.const 2)) (local.get $rows)))
      (local.set $cb (i32.const 0))
      (block $cdone (loop $cl
        (br_if $cdone (i32.ge_u (i32.shl (local.get $cb) (i32.const 3)) (local.get $dp)))
        (local.set $a (i32.add (local.get $s) (i32.mul (i32.shl (local.get $ib) (i32.const 2)) (local.get $lds))))
        (local.set $aend (i32.add (local.get $a) (i32.shl (i32.add (i32.shl (local.get $ib) (i32.const 2)) (i32.const 4)) (i32.const 2))))
        (local.set $b (i32.add (local.get $v) (i32.shl (local.get $cb) (i32.const 5))))
        (local.set $c00 (v128.const i64x2 0 0)) (local.set $c01 (v128.const i64x2 0 0))
        (local.set $c10 (v128.const i64x2 0 0)) (local.set $c11 (v128.const i64x2 0 0))
        (local.set $c20 (v128.const i64x2 0 0)) (local.set $c21 (v128.const i64x2 0 0))
        (local.set $c30 (v128.const i64x2 0 0)) (local.set $c31 (v128.const i64x2 0 0))
        (block $tdone (loop $tl
          (br_if $tdone (i32.ge_u (local.get $a) (local.get $aend)))
          (local.set $y0 (v128.load (local.get $b)))
          (local.set $y1 (v128.load offset=16 (local.get $b)))
          (local.set $x0 (v128.load32_splat (local.get $a)))
          (local.set $x1 (v128.load32_splat (i32.add (local.get $a) (local.get $lds))))
          (local.set $x2 (v128.load32_splat (i32.add (local.get $a) (i32.shl (local.get $lds) (i32.const 1)))))
          (local.set $x3 (v128.load32_splat (i32.add (local.get $a) (i32.mul (local.get $lds) (i32.const 3)))))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x0) (local.get $y0))))
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x0) (local.get $y1))))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x1) (local.get $y0))))
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x1) (local.get $y1))))
          (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x2) (local.get $y0))))
          (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x2) (local.get $y1))))
          (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x3) (local.get $y0))))
          (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x3) (local.get $y1))))
          (local.set $a (i32.add (local.get $a) (i32.const 4)))
          (local.set $b (i32.add (local.get $b) (local.get $ldv)))
          (br $tl)))
        (local.set $out (i32.add (local.get $o) (i32.add (i32.mul (i32.shl (local.get $ib) (i32.const 2)) (local.get $ldo)) (i32.shl (local.get $cb) (i32.const 5)))))
        (local.set $zr (i32.add (local.get $z) (i32.shl (local.get $ib) (i32.const 4))))
        (local.set $x0 (v128.load32_splat (local.get $zr)))
        (v128.store (local.get $out) (f32x4.mul (local.get $c00) (local.get $x0)))
        (v128.store offset=16 (local.get $out) (f32x4.mul (local.get $c01) (local.get $x0)))
        (local.set $out (i32.add (local.get $out) (local.get $ldo)))
        (local.set $x0 (v128.load32_splat offset=4 (local.get $zr)))
        (v128.store (local.get $out) (f32x4.mul (local.get $c10) (local.get $x0)))
        (v128.store offset=16 (local.get $out) (f32x4.mul (local.get $c11) (local.get $x0)))
        (local.set $out (i32.add (local.get $out) (local.get $ldo)))
        (local.set $x0 (v128.load32_splat offset=8 (local.get $zr)))
        (v128.store (local.get $out) (f32x4.mul (local.get $c20) (local.get $x0)))
        (v128.store offset=16 (local.get $out) (f32x4.mul (local.get $c21) (local.get $x0)))
        (local.set $out (i32.add (local.get $out) (local.get $ldo)))
        (local.set $x0 (v128.load32_splat offset=12 (local.get $zr)))
        (v128.store (local.get $out) (f32x4.mul (local.get $c30) (local.get $x0)))
        (v128.store offset=16 (local.get $out) (f32x4.mul (local.get $c31) (local.get $x0)))
        (local.set $cb (i32.add (local.get $cb) (i32.const 1)))
        (br $cl)))
      (local.set $ib (i32.add (local.get $ib) (i32.const 1)))
      (br $il))))
  ;; Window b of the batch, every head: for each key head g its keys transposed into kt, then for
  ;; each query head of its group the scores, the softmax and the values, into o. q, k, v and o are
  ;; the batch's (rows b·T.. of each, row strides ldq for q and o, ldk for k and v, in bytes); kt, s
  ;; and z are the calling thread's scratch. Windows write disjoint rows of o when T is a multiple of
  ;; 4 (R = T), so two threads may run different windows at once.
  (func (export "window") (param $b i32) (param $q i32) (param $k i32) (param $v i32) (param $o i32) (param $ldq i32) (param $ldk i32)
    (param $T i32) (param $R i32) (param $tp i32) (param $dp i32) (param $heads i32) (param $kvHeads i32) (param $kt i32) (param $s i32) (param $z i32)
    (local $g i32) (local $h i32) (local $hend i32) (local $group i32) (local $row i32)
    (local.set $row (i32.mul (local.get $b) (local.get $T)))
    (local.set $q (i32.add (local.get $q) (i32.mul (local.get $row) (local.get $ldq))))
    (local.set $o (i32.add (local.get $o) (i32.mul (local.get $row) (local.get $ldq))))
    (local.set $k (i32.add (local.get $k) (i32.mul (local.get $row) (local.get $ldk))))
    (local.set $v (i32.add (local.get $v) (i32.mul (local.get $row) (local.get $ldk))))
    (local.set $group (i32.div_u (local.get $heads) (local.get $kvHeads)))
    (block $gdone (loop $gl
      (br_if $gdone (i32.ge_u (local.get $g) (local.get $kvHeads)))
      (call $transpose (i32.add (local.get $k) (i32.shl (i32.mul (local.get $g) (local.get $dp)) (i32.const 2))) (local.get $ldk)
        (local.get $T) (local.get $dp) (local.get $kt) (local.get $tp))
      (local.set $h (i32.mul (local.get $g) (local.get $group)))
      (local.set $hend (i32.add (local.get $h) (local.get $group)))
      (block $hdone (loop $hl
        (br_if $hdone (i32.ge_u (local.get $h) (local.get $hend)))
        (call $scores (i32.add (local.get $q) (i32.shl (i32.mul (local.get $h) (local.get $dp)) (i32.const 2))) (local.get $ldq)
          (local.get $kt) (local.get $s) (local.get $R) (local.get $tp) (local.get $dp))
        (call $softmax (local.get $s) (local.get $R) (local.get $tp) (local.get $z))
        (call $values (local.get $s) (i32.add (local.get $v) (i32.shl (i32.mul (local.get $g) (local.get $dp)) (i32.const 2))) (local.get $ldk)
          (i32.add (local.get $o) (i32.shl (i32.mul (local.get $h) (local.get $dp)) (i32.const 2))) (local.get $ldq)
          (local.get $z) (local.get $R) (local.get $tp) (local.get $dp))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $hl)))
      (local.set $g (i32.add (local.get $g) (i32.const 1)))
      (br $gl))))
)
