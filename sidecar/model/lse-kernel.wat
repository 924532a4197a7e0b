;; The log-sum-exp of logit rows (model.ts nll) in WebAssembly SIMD, where tfjs's logSumExp runs
;; five ops over the whole [rows, vocab] matrix with a temporary each (max, subtract, exp, sum, log).
;; Instantiated on tfjs-wasm's own memory, so offsets (bytes) are the tensors' places in tfjs's heap.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; For each of the rows (cols floats each, row-major at x): out gets two float64 a row, the row's
  ;; maximum m and Σ_j e^(x_j − m), the terms float32 and their sum float64 (a group of four's lanes
  ;; 0–1 and 2–3 summed apart, in two lanes each, and the four sums added at the row's end).
  (func (export "maxsum") (param $x i32) (param $rows i32) (param $cols i32) (param $out i32)
    (local $r i32) (local $j i32) (local $end i32) (local $end4 i32) (local $ms f32)
    (local $m v128) (local $p v128) (local $lo v128) (local $hi v128)
    (local $x4 v128) (local $t v128) (local $n v128) (local $rr v128)
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $end (i32.add (local.get $x) (i32.shl (local.get $cols) (i32.const 2))))
      (local.set $end4 (i32.add (local.get $x) (i32.shl (i32.and (local.get $cols) (i32.const -4)) (i32.const 2))))
      ;; The maximum: four lanes over the groups of four, then the lanes, then the last cols mod 4.
      (local.set $m (v128.const f32x4 -inf -inf -inf -inf))
      (local.set $j (local.get $x))
      (block $xdone (loop $xl
        (br_if $xdone (i32.ge_u (local.get $j) (local.get $end4)))
        (local.set $m (f32x4.pmax (local.get $m) (v128.load (local.get $j))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $xl)))
      (local.set $ms (f32.max (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m)))
                              (f32.max (f32x4.extract_lane 2 (local.get $m)) (f32x4.extract_lane 3 (local.get $m)))))
      (block $tdone (loop $tl
        (br_if $tdone (i32.ge_u (local.get $j) (local.get $end)))
        (local.set $ms (f32.max (local.get $ms) (f32.load (local.get $j))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $tl)))
      (local.set $m (f32x4.splat (local.get $ms)))
      ;; The sum, four terms at a time added to the float64 lanes: the last cols mod 4 padded with −∞,
      ;; whose terms are 0 (no load past the row's end, which may be the heap's).
      (local.set $lo (v128.const i64x2 0 0))
      (local.set $hi (v128.const i64x2 0 0))
      (local.set $j (local.get $x))
      (block $sdone (loop $sl
        (br_if $sdone (i32.ge_u (local.get $j) (local.get $end)))
        (if (i32.lt_u (local.get $j) (local.get $end4))
          (then (local.set $x4 (v128.load (local.get $j))))
          (else
            (local.set $x4 (f32x4.replace_lane 0 (v128.const f32x4 -inf -inf -inf -inf) (f32.load (local.get $j))))
            (if (i32.lt_u (i32.add (local.get $j) (i32.const 4)) (local.get $end))
              (then (local.set $x4 (f32x4.replace_lane 1 (local.get $x4) (f32.load offset=4 (local.get $j))))))
            (if (i32.lt_u (i32.add (local.get $j) (i32.const 8)) (local.get $end))
              (then (local.set $x4 (f32x4.replace_lane 2 (local.get $x4) (f32.load offset=8 (local.get $j))))))))
        ;; e^(x − m): Cephes' expf as attention-kernel.wat's softmax has it (Cody–Waite reduction by
        ;; ln 2, degree-7 polynomial; about 1 ulp), and exactly 0 where x − m ≤ −87 or is −∞.
        (local.set $x4 (f32x4.sub (local.get $x4) (local.get $m)))
        ;; t = x log2(e) + 1.5·2²³ rounds to an integer n in t's low mantissa bits: n = t − 1.5·2²³.
        (local.set $t (f32x4.add (f32x4.mul (local.get $x4) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341))
          (v128.const f32x4 12582912 12582912 12582912 12582912)))
        (local.set $n (f32x4.sub (local.get $t) (v128.const f32x4 12582912 12582912 12582912 12582912)))
        (local.set $rr (f32x4.sub (local.get $x4) (f32x4.mul (local.get $n) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))
        (local.set $rr (f32x4.add (local.get $rr) (f32x4.mul (local.get $n) (v128.const f32x4 2.12194440e-4 2.12194440e-4 2.12194440e-4 2.12194440e-4))))
        (local.set $p (f32x4.add (f32x4.mul (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4) (local.get $rr))
          (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $rr)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $rr)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $rr)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $rr)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
        ;; p r² + r + 1, times 2ⁿ (n + 127 in the exponent bits: t's bits less 1.5·2²³'s, 0x4b400000,
        ;; plus 127), and 0 where x ≤ −87.
        (local.set $p (f32x4.add (f32x4.add (f32x4.mul (local.get $p) (f32x4.mul (local.get $rr) (local.get $rr))) (local.get $rr))
          (v128.const f32x4 1 1 1 1)))
        (local.set $p (v128.and
          (f32x4.mul (local.get $p) (i32x4.shl (i32x4.sub (local.get $t) (v128.const i32x4 0x4b3fff81 0x4b3fff81 0x4b3fff81 0x4b3fff81)) (i32.const 23)))
          (f32x4.gt (local.get $x4) (v128.const f32x4 -87 -87 -87 -87))))
        (local.set $lo (f64x2.add (local.get $lo) (f64x2.promote_low_f32x4 (local.get $p))))
        (local.set $hi (f64x2.add (local.get $hi) (f64x2.promote_low_f32x4
          (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $p) (local.get $p)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $sl)))
      (local.set $lo (f64x2.add (local.get $lo) (local.get $hi)))
      (f64.store (local.get $out) (f64.promote_f32 (local.get $ms)))
      (f64.store offset=8 (local.get $out)
        (f64.add (f64x2.extract_lane 0 (local.get $lo)) (f64x2.extract_lane 1 (local.get $lo))))
      (local.set $x (local.get $end))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl)))))
