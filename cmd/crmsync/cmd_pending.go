package main

// Commands whose stage is not built yet. Each says so plainly and exits 2;
// its flags are declared already so --help shows the contract.
