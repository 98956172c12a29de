//go:build !purego

#include "textflag.h"

// The within4 kernels read rows in blocks of four (blocks4): each block
// holds the four rows' coordinate 0, then their coordinate 1, 2 and 3, so
// one packed operation computes one step of two rows' distances, in
// exactly the order of l2sq4 or l14 (lane for lane the same IEEE
// operations as the scalar code: nothing is reordered or fused). A loop
// step takes two blocks: eight rows.
//
// WITHIN_PAIR computes the distances of the two rows whose coordinates 0
// are at off(SI) into X0 (X1 is scratch), stores them at doff(DI), folds
// them into the running minimums ACC and sets R to their bits (bit 0 and
// 1) of "at most the limit X12". OP S0, X0 and OP S1, X1 square the
// differences (L2: MULPD with S0 = X0, S1 = X1) or clear their sign (L1:
// ANDPD with S0 = S1 = the mask X13).
#define WITHIN_PAIR(off, doff, OP, S0, S1, ACC, R) \
	MOVUPD   off(SI), X0     \
	SUBPD    X8, X0          \
	OP       S0, X0          \
	MOVUPD   32+off(SI), X1  \
	SUBPD    X9, X1          \
	OP       S1, X1          \
	ADDPD    X1, X0          \
	MOVUPD   64+off(SI), X1  \
	SUBPD    X10, X1         \
	OP       S1, X1          \
	ADDPD    X1, X0          \
	MOVUPD   96+off(SI), X1  \
	SUBPD    X11, X1         \
	OP       S1, X1          \
	ADDPD    X1, X0          \
	MOVUPD   X0, doff(DI)    \
	MINPD    X0, ACC         \
	CMPPD    X12, X0, $2     \
	MOVMSKPD X0, R

// MASK8 ORs the eight bits R8 | R9<<2 | R10<<4 | R12<<6 (two bits each)
// of the entries DX..DX+7 into bits DX%64.. of mask word DX/64 (at R11).
// DX is a multiple of 8.
#define MASK8 \
	SHLQ     $2, R9          \
	SHLQ     $4, R10         \
	SHLQ     $6, R12         \
	ORQ      R9, R8          \
	ORQ      R12, R10        \
	ORQ      R10, R8         \
	MOVQ     DX, CX          \
	ANDQ     $63, CX         \
	SHLQ     CX, R8          \
	MOVQ     DX, R9          \
	SHRQ     $6, R9          \
	ORQ      R8, (R11)(R9*8)

// WITHIN_STEP does the eight rows DX..DX+7 (two blocks at SI) and sets
// their mask bits.
#define WITHIN_STEP(OP, S0, S1) \
	WITHIN_PAIR(0, 0, OP, S0, S1, X4, R8)      \
	WITHIN_PAIR(16, 16, OP, S0, S1, X5, R9)    \
	WITHIN_PAIR(128, 32, OP, S0, S1, X6, R10)  \
	WITHIN_PAIR(144, 48, OP, S0, S1, X7, R12)  \
	MASK8

// WITHIN_SETUP broadcasts q's coordinates (at AX) to X8-X11 and the
// limit (in X12) to both lanes of X12, sets the minimums X4-X7 to +Inf
// and zeroes the row count DX.
#define WITHIN_SETUP \
	UNPCKLPD X12, X12    \
	MOVSD    0(AX), X8   \
	UNPCKLPD X8, X8      \
	MOVSD    8(AX), X9   \
	UNPCKLPD X9, X9      \
	MOVSD    16(AX), X10 \
	UNPCKLPD X10, X10    \
	MOVSD    24(AX), X11 \
	UNPCKLPD X11, X11    \
	PCMPEQL  X4, X4      \
	PSLLQ    $53, X4     \
	PSRLQ    $1, X4      \
	MOVAPD   X4, X5      \
	MOVAPD   X4, X6      \
	MOVAPD   X4, X7      \
	XORQ     DX, DX

// WITHIN_MINS stores the minimums to mins (at AX; lane r%8 of row r).
#define WITHIN_MINS \
	MOVUPD X4, 0(AX)       \
	MOVUPD X5, 16(AX)      \
	MOVUPD X6, 32(AX)      \
	MOVUPD X7, 48(AX)

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

// func within4L2SSE(blocks *[16]float64, n int, q *[4]float64, limit float64, dist *[smallMax]float64, mask *[smallMax / 64]uint64, mins *[8]float64)
TEXT ·within4L2SSE(SB), NOSPLIT, $0-56
	MOVQ  blocks+0(FP), SI
	MOVQ  n+8(FP), BX
	MOVQ  q+16(FP), AX
	MOVSD limit+24(FP), X12
	MOVQ  dist+32(FP), DI
	MOVQ  mask+40(FP), R11
	WITHIN_SETUP

w2loop:
	WITHIN_STEP(MULPD, X0, X1)
	ADDQ $256, SI
	ADDQ $64, DI
	ADDQ $8, DX
	CMPQ DX, BX
	JLT  w2loop
	MOVQ mins+48(FP), AX
	WITHIN_MINS
	RET

// func within4L1SSE(blocks *[16]float64, n int, q *[4]float64, limit float64, dist *[smallMax]float64, mask *[smallMax / 64]uint64, mins *[8]float64)
TEXT ·within4L1SSE(SB), NOSPLIT, $0-56
	MOVQ    blocks+0(FP), SI
	MOVQ    n+8(FP), BX
	MOVQ    q+16(FP), AX
	MOVSD   limit+24(FP), X12
	MOVQ    dist+32(FP), DI
	MOVQ    mask+40(FP), R11
	WITHIN_SETUP
	PCMPEQL X13, X13
	PSRLQ   $1, X13                  // 0x7fff...ffff: clears the sign (math.Abs)

w1loop:
	WITHIN_STEP(ANDPD, X13, X13)
	ADDQ $256, SI
	ADDQ $64, DI
	ADDQ $8, DX
	CMPQ DX, BX
	JLT  w1loop
	MOVQ mins+48(FP), AX
	WITHIN_MINS
	RET

// func atMostSSE(dist *[smallMax]float64, n int, limit float64, mask *[smallMax / 64]uint64)
//
// n is a positive multiple of 8.
TEXT ·atMostSSE(SB), NOSPLIT, $0-32
	MOVQ     dist+0(FP), SI
	MOVQ     n+8(FP), BX
	MOVSD    limit+16(FP), X0
	MOVQ     mask+24(FP), R11
	UNPCKLPD X0, X0
	XORQ     DX, DX

aloop:
	MOVUPD   0(SI)(DX*8), X1
	MOVUPD   16(SI)(DX*8), X2
	MOVUPD   32(SI)(DX*8), X3
	MOVUPD   48(SI)(DX*8), X4
	CMPPD    X0, X1, $2              // d <= limit
	CMPPD    X0, X2, $2
	CMPPD    X0, X3, $2
	CMPPD    X0, X4, $2
	MOVMSKPD X1, R8
	MOVMSKPD X2, R9
	MOVMSKPD X3, R10
	MOVMSKPD X4, R12
	MASK8
	ADDQ     $8, DX
	CMPQ     DX, BX
	JLT      aloop
	RET
