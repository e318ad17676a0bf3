OPENQASM 3.0;
include "stdgates.inc";
// A 3-qubit GHZ state on physical qubits QB1 - QB2 - QB5 of the 20-qubit lattice ($n is the n-th qubit).
bit[3] c;
h $0;
cx $0, $1;
cx $1, $4;
c[0] = measure $0;
c[1] = measure $1;
c[2] = measure $4;
