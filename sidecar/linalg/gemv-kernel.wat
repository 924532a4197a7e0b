;; The bidiagonalisation's matrix-vector products and rank-one updates (bidiagonal.ts,
;; bidiagonal-panel.ts) in WebAssembly SIMD: each pass reads the whole trailing matrix, and scalar
;; JavaScript read it at 13–20 GB/s where these loops reach the cache's or memory's bandwidth. The
;; memory is the reduction's own, shared with its lanes (gemv-kernel.ts). Offsets in bytes, lengths
;; in doubles; a column's arithmetic does not depend on which columns share its pass, nor a row's on
;; which rows do.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; out[c] = Σ_r A[a + c·ld + r] v[r], r < len, c < nc: per column, the pairs (r, r+1) summed in
  ;; two lanes, the lanes added, then the odd last term. Four columns share each load of v.
  (func (export "dots") (param $a i32) (param $ld i32) (param $len i32) (param $nc i32) (param $v i32) (param $out i32)
    (local $ldb i32) (local $c i32) (local $g i32) (local $r i32) (local $even i32) (local $p i32)
    (local $x v128) (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local.set $ldb (i32.shl (local.get $ld) (i32.const 3)))
    (local.set $even (i32.shl (i32.and (local.get $len) (i32.const -2)) (i32.const 3)))
    (local.set $g (i32.and (local.get $nc) (i32.const -4)))
    (block $groups (loop $group
      (br_if $groups (i32.ge_u (local.get $c) (local.get $g)))
      (local.set $p (i32.add (local.get $a) (i32.mul (local.get $c) (local.get $ldb))))
      (local.set $s0 (v128.const i64x2 0 0)) (local.set $s1 (v128.const i64x2 0 0))
      (local.set $s2 (v128.const i64x2 0 0)) (local.set $s3 (v128.const i64x2 0 0))
      (local.set $r (i32.const 0))
      (block $rows (loop $row
        (br_if $rows (i32.ge_u (local.get $r) (local.get $even)))
        (local.set $x (v128.load (i32.add (local.get $v) (local.get $r))))
        (local.set $s0 (f64x2.add (local.get $s0) (f64x2.mul (v128.load (i32.add (local.get $p) (local.get $r))) (local.get $x))))
        (local.set $s1 (f64x2.add (local.get $s1) (f64x2.mul (v128.load (i32.add (i32.add (local.get $p) (local.get $ldb)) (local.get $r))) (local.get $x))))
        (local.set $s2 (f64x2.add (local.get $s2) (f64x2.mul (v128.load (i32.add (i32.add (local.get $p) (i32.shl (local.get $ldb) (i32.const 1))) (local.get $r))) (local.get $x))))
        (local.set $s3 (f64x2.add (local.get $s3) (f64x2.mul (v128.load (i32.add (i32.add (local.get $p) (i32.mul (local.get $ldb) (i32.const 3))) (local.get $r))) (local.get $x))))
        (local.set $r (i32.add (local.get $r) (i32.const 16)))
        (br $row)))
      (call $finish (local.get $s0) (local.get $p) (local.get $len) (local.get $v) (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 3))))
      (call $finish (local.get $s1) (i32.add (local.get $p) (local.get $ldb)) (local.get $len) (local.get $v) (i32.add (local.get $out) (i32.shl (i32.add (local.get $c) (i32.const 1)) (i32.const 3))))
      (call $finish (local.get $s2) (i32.add (local.get $p) (i32.shl (local.get $ldb) (i32.const 1))) (local.get $len) (local.get $v) (i32.add (local.get $out) (i32.shl (i32.add (local.get $c) (i32.const 2)) (i32.const 3))))
      (call $finish (local.get $s3) (i32.add (local.get $p) (i32.mul (local.get $ldb) (i32.const 3))) (local.get $len) (local.get $v) (i32.add (local.get $out) (i32.shl (i32.add (local.get $c) (i32.const 3)) (i32.const 3))))
      (local.set $c (i32.add (local.get $c) (i32.const 4)))
      (br $group)))
    ;; The last nc mod 4 columns one at a time, with the same arithmetic.
    (block $singles (loop $single
      (br_if $singles (i32.ge_u (local.get $c) (local.get $nc)))
      (local.set $p (i32.add (local.get $a) (i32.mul (local.get $c) (local.get $ldb))))
      (local.set $s0 (v128.const i64x2 0 0))
      (local.set $r (i32.const 0))
      (block $rows (loop $row
        (br_if $rows (i32.ge_u (local.get $r) (local.get $even)))
        (local.set $s0 (f64x2.add (local.get $s0) (f64x2.mul (v128.load (i32.add (local.get $p) (local.get $r))) (v128.load (i32.add (local.get $v) (local.get $r))))))
        (local.set $r (i32.add (local.get $r) (i32.const 16)))
        (br $row)))
      (call $finish (local.get $s0) (local.get $p) (local.get $len) (local.get $v) (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 3))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $single))))

  ;; Stores a column's two lane sums added, plus its odd last term A[p + len−1]·v[len−1].
  (func $finish (param $s v128) (param $p i32) (param $len i32) (param $v i32) (param $out i32)
    (local $sum f64) (local $last i32)
    (local.set $sum (f64.add (f64x2.extract_lane 0 (local.get $s)) (f64x2.extract_lane 1 (local.get $s))))
    (if (i32.and (local.get $len) (i32.const 1))
      (then
        (local.set $last (i32.shl (i32.sub (local.get $len) (i32.const 1)) (i32.const 3)))
        (local.set $sum (f64.add (local.get $sum) (f64.mul (f64.load (i32.add (local.get $p) (local.get $last))) (f64.load (i32.add (local.get $v) (local.get $last))))))))
    (f64.store (local.get $out) (local.get $sum)))

  ;; y[r] += Σ_c u[c] A[a + c·ld + r], r < len, c < nc: columns four at a time,
  ;; y[r] += ((u₀a₀ + u₁a₁) + u₂a₂) + u₃a₃, then the last nc mod 4 one at a time; rows two at a time,
  ;; the odd last one alone, with the same arithmetic.
  (func (export "matvec") (param $a i32) (param $ld i32) (param $len i32) (param $nc i32) (param $u i32) (param $y i32)
    (local $ldb i32) (local $c i32) (local $g i32) (local $r i32) (local $even i32) (local $p i32) (local $q i32)
    (local $u0 v128) (local $u1 v128) (local $u2 v128) (local $u3 v128)
    (local.set $ldb (i32.shl (local.get $ld) (i32.const 3)))
    (local.set $even (i32.shl (i32.and (local.get $len) (i32.const -2)) (i32.const 3)))
    (local.set $g (i32.and (local.get $nc) (i32.const -4)))
    (block $groups (loop $group
      (br_if $groups (i32.ge_u (local.get $c) (local.get $g)))
      (local.set $q (i32.add (local.get $u) (i32.shl (local.get $c) (i32.const 3))))
      (local.set $u0 (v128.load64_splat (local.get $q)))
      (local.set $u1 (v128.load64_splat offset=8 (local.get $q)))
      (local.set $u2 (v128.load64_splat offset=16 (local.get $q)))
      (local.set $u3 (v128.load64_splat offset=24 (local.get $q)))
      (local.set $p (i32.add (local.get $a) (i32.mul (local.get $c) (local.get $ldb))))
      (local.set $r (i32.const 0))
      (block $rows (loop $row
        (br_if $rows (i32.ge_u (local.get $r) (local.get $even)))
        (local.set $q (i32.add (local.get $p) (local.get $r)))
        (v128.store (i32.add (local.get $y) (local.get $r)) (f64x2.add (v128.load (i32.add (local.get $y) (local.get $r)))
          (f64x2.add (f64x2.add (f64x2.add
            (f64x2.mul (local.get $u0) (v128.load (local.get $q)))
            (f64x2.mul (local.get $u1) (v128.load (i32.add (local.get $q) (local.get $ldb)))))
            (f64x2.mul (local.get $u2) (v128.load (i32.add (local.get $q) (i32.shl (local.get $ldb) (i32.const 1))))))
            (f64x2.mul (local.get $u3) (v128.load (i32.add (local.get $q) (i32.mul (local.get $ldb) (i32.const 3))))))))
        (local.set $r (i32.add (local.get $r) (i32.const 16)))
        (br $row)))
      (if (i32.and (local.get $len) (i32.const 1))
        (then
          (local.set $q (i32.add (local.get $p) (local.get $even)))
          (f64.store (i32.add (local.get $y) (local.get $even)) (f64.add (f64.load (i32.add (local.get $y) (local.get $even)))
            (f64.add (f64.add (f64.add
              (f64.mul (f64x2.extract_lane 0 (local.get $u0)) (f64.load (local.get $q)))
              (f64.mul (f64x2.extract_lane 0 (local.get $u1)) (f64.load (i32.add (local.get $q) (local.get $ldb)))))
              (f64.mul (f64x2.extract_lane 0 (local.get $u2)) (f64.load (i32.add (local.get $q) (i32.shl (local.get $ldb) (i32.const 1))))))
              (f64.mul (f64x2.extract_lane 0 (local.get $u3)) (f64.load (i32.add (local.get $q) (i32.mul (local.get $ldb) (i32.const 3))))))))))
      (local.set $c (i32.add (local.get $c) (i32.const 4)))
      (br $group)))
    (block $singles (loop $single
      (br_if $singles (i32.ge_u (local.get $c) (local.get $nc)))
      (local.set $u0 (v128.load64_splat (i32.add (local.get $u) (i32.shl (local.get $c) (i32.const 3)))))
      (local.set $p (i32.add (local.get $a) (i32.mul (local.get $c) (local.get $ldb))))
      (local.set $r (i32.const 0))
      (block $rows (loop $row
        (br_if $rows (i32.ge_u (local.get $r) (local.get $even)))
        (v128.store (i32.add (local.get $y) (local.get $r)) (f64x2.add (v128.load (i32.add (local.get $y) (local.get $r)))
          (f64x2.mul (local.get $u0) (v128.load (i32.add (local.get $p) (local.get $r))))))
        (local.set $r (i32.add (local.get $r) (i32.const 16)))
        (br $row)))
      (if (i32.and (local.get $len) (i32.const 1))
        (then
          (f64.store (i32.add (local.get $y) (local.get $even)) (f64.add (f64.load (i32.add (local.get $y) (local.get $even)))
            (f64.mul (f64x2.extract_lane 0 (local.get $u0)) (f64.load (i32.add (local.get $p) (local.get $even))))))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $single))))

  ;; M[m + r·ld + t] += a[r] · v[t], t < len, r < rows (a rank-one update; with a = −τ s it is
  ;; the scalar M − (τ s) v to the bit): per row, pairs of t, then the odd last one.
  (func (export "ger") (param $m i32) (param $ld i32) (param $len i32) (param $rows i32) (param $a i32) (param $v i32)
    (local $ldb i32) (local $r i32) (local $t i32) (local $even i32) (local $p i32) (local $x v128)
    (local.set $ldb (i32.shl (local.get $ld) (i32.const 3)))
    (local.set $even (i32.shl (i32.and (local.get $len) (i32.const -2)) (i32.const 3)))
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $x (v128.load64_splat (i32.add (local.get $a) (i32.shl (local.get $r) (i32.const 3)))))
      (local.set $p (i32.add (local.get $m) (i32.mul (local.get $r) (local.get $ldb))))
      (local.set $t (i32.const 0))
      (block $tdone (loop $tl
        (br_if $tdone (i32.ge_u (local.get $t) (local.get $even)))
        (v128.store (i32.add (local.get $p) (local.get $t))
          (f64x2.add (v128.load (i32.add (local.get $p) (local.get $t))) (f64x2.mul (local.get $x) (v128.load (i32.add (local.get $v) (local.get $t))))))
        (local.set $t (i32.add (local.get $t) (i32.const 16)))
        (br $tl)))
      (if (i32.and (local.get $len) (i32.const 1))
        (then
          (f64.store (i32.add (local.get $p) (local.get $even))
            (f64.add (f64.load (i32.add (local.get $p) (local.get $even)))
              (f64.mul (f64x2.extract_lane 0 (local.get $x)) (f64.load (i32.add (local.get $v) (local.get $even))))))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl))))
)
