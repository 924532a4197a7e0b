;; RMSNorm (norm.ts) in WebAssembly SIMD: one pass over the rows where tfjs runs six ops
;; with a temporary each (square, mean, add, rsqrt and two products). Instantiated on tfjs-wasm's
;; own memory, so offsets (bytes) are the tensors' places in tfjs's heap. Float32, as tfjs's.
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
      (br $rl)))))
