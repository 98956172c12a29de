//go:build !purego

#include "textflag.h"

// func collect4L2SSE(cand *[256]int32, c int, rows *[4]float64, from, to int, q *[4]float64, limit float64) int
TEXT ·collect4L2SSE(SB), NOSPLIT, $0-64
	MOVQ   cand+0(FP), DI
	MOVQ   c+8(FP), CX
	MOVQ   rows+16(FP), SI
	MOVQ   from+24(FP), DX
	MOVQ   to+32(FP), BX
	MOVQ   q+40(FP), AX
	MOVSD  limit+48(FP), X5
	MOVUPD 0(AX), X0                 // q0, q1
	MOVUPD 16(AX), X1                // q2, q3
	CMPQ   DX, BX
	JGE    l2done
	MOVQ   DX, R8
	SHLQ   $5, R8
	ADDQ   R8, SI                    // &rows[from]

l2loop:
	MOVUPD   0(SI), X2
	MOVUPD   16(SI), X3
	SUBPD    X0, X2                  // a, b
	SUBPD    X1, X3                  // c, e
	MULPD    X2, X2                  // a*a, b*b
	MULPD    X3, X3                  // c*c, e*e
	MOVAPD   X2, X4
	UNPCKHPD X4, X4                  // b*b
	ADDSD    X4, X2                  // a*a + b*b
	ADDSD    X3, X2                  // + c*c
	UNPCKHPD X3, X3                  // e*e
	ADDSD    X3, X2                  // + e*e
	MOVQ     CX, R8
	ANDQ     $255, R8
	MOVL     DX, (DI)(R8*4)          // cand[c&255] = j
	UCOMISD  X2, X5                  // CF = limit < d (or unordered)
	SBBQ     $-1, CX                 // c += 1 - CF
	ADDQ     $32, SI
	INCQ     DX
	CMPQ     DX, BX
	JLT      l2loop

l2done:
	MOVQ CX, ret+56(FP)
	RET

// func collect4L1SSE(cand *[256]int32, c int, rows *[4]float64, from, to int, q *[4]float64, limit float64) int
TEXT ·collect4L1SSE(SB), NOSPLIT, $0-64
	MOVQ    cand+0(FP), DI
	MOVQ    c+8(FP), CX
	MOVQ    rows+16(FP), SI
	MOVQ    from+24(FP), DX
	MOVQ    to+32(FP), BX
	MOVQ    q+40(FP), AX
	MOVSD   limit+48(FP), X5
	MOVUPD  0(AX), X0
	MOVUPD  16(AX), X1
	PCMPEQL X6, X6
	PSRLQ   $1, X6                   // 0x7fff...ffff: clears the sign (math.Abs)
	CMPQ    DX, BX
	JGE     l1done
	MOVQ    DX, R8
	SHLQ    $5, R8
	ADDQ    R8, SI

l1loop:
	MOVUPD   0(SI), X2
	MOVUPD   16(SI), X3
	SUBPD    X0, X2
	SUBPD    X1, X3
	ANDPD    X6, X2                  // |a|, |b|
	ANDPD    X6, X3                  // |c|, |e|
	MOVAPD   X2, X4
	UNPCKHPD X4, X4
	ADDSD    X4, X2                  // |a| + |b|
	ADDSD    X3, X2                  // + |c|
	UNPCKHPD X3, X3
	ADDSD    X3, X2                  // + |e|
	MOVQ     CX, R8
	ANDQ     $255, R8
	MOVL     DX, (DI)(R8*4)
	UCOMISD  X2, X5
	SBBQ     $-1, CX
	ADDQ     $32, SI
	INCQ     DX
	CMPQ     DX, BX
	JLT      l1loop

l1done:
	MOVQ CX, ret+56(FP)
	RET

// func next4L2SSE(rows *[4]float64, from, n int, q *[4]float64, limit float64) (int, float64)
TEXT ·next4L2SSE(SB), NOSPLIT, $0-56
	MOVQ   rows+0(FP), SI
	MOVQ   from+8(FP), DX
	MOVQ   n+16(FP), BX
	MOVQ   q+24(FP), AX
	MOVSD  limit+32(FP), X5
	MOVUPD 0(AX), X0
	MOVUPD 16(AX), X1
	CMPQ   DX, BX
	JGE    n2none
	MOVQ   DX, R8
	SHLQ   $5, R8
	ADDQ   R8, SI

n2loop:
	MOVUPD   0(SI), X2
	MOVUPD   16(SI), X3
	SUBPD    X0, X2
	SUBPD    X1, X3
	MULPD    X2, X2
	MULPD    X3, X3
	MOVAPD   X2, X4
	UNPCKHPD X4, X4
	ADDSD    X4, X2
	ADDSD    X3, X2
	UNPCKHPD X3, X3
	ADDSD    X3, X2
	UCOMISD  X2, X5                  // CF = limit < d (or unordered)
	JCC      n2found
	ADDQ     $32, SI
	INCQ     DX
	CMPQ     DX, BX
	JLT      n2loop

n2none:
	MOVQ  BX, ret+40(FP)
	XORPS X2, X2
	MOVSD X2, ret1+48(FP)
	RET

n2found:
	MOVQ  DX, ret+40(FP)
	MOVSD X2, ret1+48(FP)
	RET

// func next4L1SSE(rows *[4]float64, from, n int, q *[4]float64, limit float64) (int, float64)
TEXT ·next4L1SSE(SB), NOSPLIT, $0-56
	MOVQ    rows+0(FP), SI
	MOVQ    from+8(FP), DX
	MOVQ    n+16(FP), BX
	MOVQ    q+24(FP), AX
	MOVSD   limit+32(FP), X5
	MOVUPD  0(AX), X0
	MOVUPD  16(AX), X1
	PCMPEQL X6, X6
	PSRLQ   $1, X6
	CMPQ    DX, BX
	JGE     n1none
	MOVQ    DX, R8
	SHLQ    $5, R8
	ADDQ    R8, SI

n1loop:
	MOVUPD   0(SI), X2
	MOVUPD   16(SI), X3
	SUBPD    X0, X2
	SUBPD    X1, X3
	ANDPD    X6, X2
	ANDPD    X6, X3
	MOVAPD   X2, X4
	UNPCKHPD X4, X4
	ADDSD    X4, X2
	ADDSD    X3, X2
	UNPCKHPD X3, X3
	ADDSD    X3, X2
	UCOMISD  X2, X5
	JCC      n1found
	ADDQ     $32, SI
	INCQ     DX
	CMPQ     DX, BX
	JLT      n1loop

n1none:
	MOVQ  BX, ret+40(FP)
	XORPS X2, X2
	MOVSD X2, ret1+48(FP)
	RET

n1found:
	MOVQ  DX, ret+40(FP)
	MOVSD X2, ret1+48(FP)
	RET
