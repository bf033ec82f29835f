// Command goverify checks Sentinelle's checkpoints and Merkle proofs with Go's
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog, an implementation
// that shares no code with Sentinelle's Python one.
//
// It reads one JSON document on stdin:
//
//	{
//	  "verifier_key": "<name>+<hex key id>+<base64 key>",
//	  "note": "<signed checkpoint>",
//	  "origin": "<expected origin>", "size": N, "root": "<base64>",
//	  "inclusion":   [{"leaf_hash": "<b64>", "index": i, "size": n, "proof": ["<b64>", ...], "root": "<b64>"}],
//	  "consistency": [{"old_size": m, "new_size": n, "old_root": "<b64>", "new_root": "<b64>", "proof": [...]}]
//	}
//
// Proof hashes are in RFC 9162 order (the hash next to the leaf first), which is
// also the order of tlog's RecordProof and TreeProof: tlog builds them as
// append(<proof of the subtree holding the leaf>, <sibling hash>), so the deepest
// hash comes first and the root's other child last, exactly as PATH and SUBPROOF
// of RFC 6962/9162 do. No reordering is needed.
//
// It exits 0 if everything verifies, 1 and a line per failure otherwise, 2 if the
// input cannot be read. Build it in GOPATH mode against Debian's
// golang-golang-x-mod-dev: GO111MODULE=off GOPATH=/usr/share/gocode go build.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusion struct {
	LeafHash string   `json:"leaf_hash"`
	Index    int64    `json:"index"`
	Size     int64    `json:"size"`
	Proof    []string `json:"proof"`
	Root     string   `json:"root"`
}

type consistency struct {
	OldSize int64    `json:"old_size"`
	NewSize int64    `json:"new_size"`
	OldRoot string   `json:"old_root"`
	NewRoot string   `json:"new_root"`
	Proof   []string `json:"proof"`
}

type input struct {
	VerifierKey string        `json:"verifier_key"`
	Note        string        `json:"note"`
	Origin      string        `json:"origin"`
	Size        int64         `json:"size"`
	Root        string        `json:"root"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
}

var failures int

func fail(format string, args ...interface{}) {
	failures++
	fmt.Printf("FAIL "+format+"\n", args...)
}

func hashes(list []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(list))
	for i, s := range list {
		h, err := tlog.ParseHash(s)
		if err != nil {
			return nil, fmt.Errorf("proof hash %d: %v", i, err)
		}
		out[i] = h
	}
	return out, nil
}

func checkNote(in *input) {
	verifier, err := note.NewVerifier(in.VerifierKey)
	if err != nil {
		fail("verifier key: %v", err)
		return
	}
	n, err := note.Open([]byte(in.Note), note.VerifierList(verifier))
	if err != nil {
		fail("note: %v", err)
		return
	}
	// tlog.ParseTree wants the go.sum origin line; swap ours for it and let tlog
	// parse the size and root hash lines of the C2SP checkpoint.
	origin, rest, found := strings.Cut(n.Text, "\n")
	if !found || origin != in.Origin {
		fail("checkpoint origin %q, expected %q", origin, in.Origin)
		return
	}
	tree, err := tlog.ParseTree([]byte("go.sum database tree\n" + rest))
	if err != nil {
		fail("checkpoint body: %v", err)
		return
	}
	root, err := tlog.ParseHash(in.Root)
	if err != nil {
		fail("expected root: %v", err)
		return
	}
	if tree.N != in.Size || tree.Hash != root {
		fail("checkpoint is size %d root %s, expected size %d root %s", tree.N, tree.Hash, in.Size, root)
	}
}

func checkInclusion(i int, c inclusion) {
	leaf, err1 := tlog.ParseHash(c.LeafHash)
	root, err2 := tlog.ParseHash(c.Root)
	proof, err3 := hashes(c.Proof)
	if err1 != nil || err2 != nil || err3 != nil {
		fail("inclusion %d: malformed input: %v %v %v", i, err1, err2, err3)
		return
	}
	if err := tlog.CheckRecord(tlog.RecordProof(proof), c.Size, root, c.Index, leaf); err != nil {
		fail("inclusion %d (leaf %d of %d): %v", i, c.Index, c.Size, err)
	}
}

func checkConsistency(i int, c consistency) {
	oldRoot, err1 := tlog.ParseHash(c.OldRoot)
	newRoot, err2 := tlog.ParseHash(c.NewRoot)
	proof, err3 := hashes(c.Proof)
	if err1 != nil || err2 != nil || err3 != nil {
		fail("consistency %d: malformed input: %v %v %v", i, err1, err2, err3)
		return
	}
	if err := tlog.CheckTree(tlog.TreeProof(proof), c.NewSize, newRoot, c.OldSize, oldRoot); err != nil {
		fail("consistency %d (%d -> %d): %v", i, c.OldSize, c.NewSize, err)
	}
}

func main() {
	var in input
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		fmt.Fprintf(os.Stderr, "goverify: bad input: %v\n", err)
		os.Exit(2)
	}
	checkNote(&in)
	for i, c := range in.Inclusion {
		checkInclusion(i, c)
	}
	for i, c := range in.Consistency {
		checkConsistency(i, c)
	}
	if failures > 0 {
		fmt.Printf("%d check(s) failed\n", failures)
		os.Exit(1)
	}
	fmt.Printf("ok: note, %d inclusion and %d consistency proofs\n", len(in.Inclusion), len(in.Consistency))
}
