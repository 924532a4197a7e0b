;; A Llama layer's pointwise steps (pointwise-host.ts) in WebAssembly SIMD, each one pass over its
;; tensors where tfjs runs several ops with a temporary each: RMSNorm (square, mean, add, rsqrt and
;; two products) and SwiGLU's gate (sigmoid and two products). Instantiated on tfjs-wasm's own
;; memory, so offsets (bytes) are the tensors' places in tfjs's heap. Float32 throughout, as tfjs's.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; out (rows × cols) = x · (1/√(mean of the row's squares + eps)) · w, row by row; cols a multiple
  ;; of 4. The squares are summed in four lanes, then the lanes added.
  (func (export "rmsnorm") (param $x i32) (param $w i32) (param $out i32) (param $rows i32) (param $cols i32) (param $eps f32)
    (local $r i32) (local $j i32) (local $end i32) (local $rowBytes i32) (local $acc v128) (local $v v128) (local $k v128)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $end (i32.add (local.get $x) (local.get $rowBytes)))
      (local.set $acc (v128.const i64x2 0 0))
      (local.set $j (local.get $x))
      (block $sdone (loop $sl
        (br_if $sdone (i32.ge_u (local.get $j) (local.get $end)))
        (local.set $v (v128.load (local.get $j)))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $v) (local.get $v))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $sl)))
      (local.set $k (f32x4.splat (f32.div (f32.const 1) (f32.sqrt (f32.add (f32.div
        (f32.add (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
                 (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))
        (f32.convert_i32_u (local.get $cols))) (local.get $eps))))))
      (local.set $j (i32.const 0))
      (block $wdone (loop $wl
        (br_if $wdone (i32.ge_u (local.get $j) (local.get $rowBytes)))
        (v128.store (i32.add (local.get $out) (local.get $j))
          (f32x4.mul (f32x4.mul (v128.load (i32.add (local.get $x) (local.get $j))) (local.get $k)) (v128.load (i32.add (local.get $w) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $wl)))
      (local.set $x (i32.add (local.get $x) (local.get $rowBytes)))
      (local.set $out (i32.add (local.get $out) (local.get $rowBytes)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl))))

  ;; out = (g · σ(g)) · u over n floats (a multiple of 4), σ(g) = 1/(1 + e^−g) for g ≥ 0 and
  ;; e^g/(1 + e^g) below, so the exponential's argument, −|g|, is never positive. The exponential
  ;; is attention-kernel.wat's (Cephes' expf, about 1 ulp, exactly 0 below −87).
  (func (export "swiglu") (param $g i32) (param $u i32) (param $out i32) (param $n i32)
    (local $end i32) (local $gv v128) (local $x v128) (local $t v128) (local $nn v128) (local $r v128) (local $p v128) (local $d v128)
    (local.set $end (i32.add (local.get $g) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $g) (local.get $end)))
      (local.set $gv (v128.load (local.get $g)))
      (local.set $x (f32x4.neg (f32x4.abs (local.get $gv))))
      (local.set $t (f32x4.add (f32x4.mul (local.get $x) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341))
        (v128.const f32x4 12582912 12582912 12582912 12582912)))
      (local.set $nn (f32x4.sub (local.get $t) (v128.const f32x4 12582912 12582912 12582912 12582912)))
      (local.set $r (f32x4.sub (local.get $x) (f32x4.mul (local.get $nn) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))
      (local.set $r (f32x4.add (local.get $r) (f32x4.mul (local.get $nn) (v128.const f32x4 2.12194440e-4 2.12194440e-4 2.12194440e-4 2.12194440e-4))))
      (local.set $p (f32x4.add (f32x4.mul (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4) (local.get $r))
        (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
      (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
      (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
      (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
      (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
      (local.set $p (f32x4.add (f32x4.add (f32x4.mul (local.get $p) (f32x4.mul (local.get $r) (local.get $r))) (local.get $r))
        (v128.const f32x4 1 1 1 1)))
      ;; e = e^−|g|
      (local.set $p (v128.and
        (f32x4.mul (local.get $p) (i32x4.shl (i32x4.sub (local.get $t) (v128.const i32x4 0x4b3fff81 0x4b3fff81 0x4b3fff81 0x4b3fff81)) (i32.const 23)))
        (f32x4.gt (local.get $x) (v128.const f32x4 -87 -87 -87 -87))))
      (local.set $d (f32x4.div (v128.const f32x4 1 1 1 1) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $p))))
      ;; σ(g): 1/(1 + e) where g ≥ 0, else e/(1 + e)
      (local.set $d (v128.bitselect (local.get $d) (f32x4.mul (local.get $p) (local.get $d)) (f32x4.ge (local.get $gv) (v128.const f32x4 0 0 0 0))))
      (v128.store (local.get $out) (f32x4.mul (f32x4.mul (local.get $gv) (local.get $d)) (v128.load (local.get $u))))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $u (i32.add (local.get $u) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $l)))))
