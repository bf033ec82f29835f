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
//	  "consistency": [{"old_size": m, "new_size": n, "old_root": "<b64>", "new_root": "<b64>", "proof": [...]}],
//	  "cosigner_keys": ["<name>+<hex key id>+<base64(0x04 || key)>", ...],   (optional)
//	  "published": "<directory written by sentinelle ledger publish --tiles>"   (optional)
//	}
//
// Each cosigner key must have a valid C2SP tlog-cosignature (cosignature/v1) line on the note
// (and on the published checkpoint). x/mod's note package knows only Ed25519 note signatures
// (0x01), but it takes any note.Verifier: cosignatureV1 below is one, written from the spec
// with crypto/ed25519, so note.Open finds the line by name and key ID and hands us its bytes.
//
// "published" is read as a tlog-tiles client would: the checkpoint file, then the hash tiles
// through tlog.TileHashReader, which authenticates every tile against the checkpoint's root;
// the tree hash and inclusion proofs of a leaf in every tile are computed from them. The paths are
// x/mod's Tile.Path() without its "8/" height element (C2SP tlog-tiles dropped it).
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
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
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
	VerifierKey  string        `json:"verifier_key"`
	Note         string        `json:"note"`
	Origin       string        `json:"origin"`
	Size         int64         `json:"size"`
	Root         string        `json:"root"`
	Inclusion    []inclusion   `json:"inclusion"`
	Consistency  []consistency `json:"consistency"`
	CosignerKeys []string      `json:"cosigner_keys"`
	Published    string        `json:"published"`
}

// cosignatureV1 verifies C2SP tlog-cosignature Ed25519 lines: the signature bytes after the
// key ID are an 8-byte big-endian timestamp and an Ed25519 signature over
// "cosignature/v1\ntime <timestamp>\n" followed by the note text.
type cosignatureV1 struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v *cosignatureV1) Name() string    { return v.name }
func (v *cosignatureV1) KeyHash() uint32 { return v.hash }
func (v *cosignatureV1) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	if t > math.MaxInt64 {
		return false
	}
	m := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
	return ed25519.Verify(v.key, m, sig[8:])
}

func newCosignatureV1(vkey string) (*cosignatureV1, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	key, err := base64.StdEncoding.DecodeString(key64)
	if !ok1 || !ok2 || err != nil || len(key) != 1+ed25519.PublicKeySize || key[0] != 4 {
		return nil, fmt.Errorf("%q is not a cosignature/v1 verifier key", vkey)
	}
	// Key ID: SHA-256(name || "\n" || 0x04 || public key)[:4].
	sum := sha256.Sum256(append([]byte(name+"\n"), key...))
	if hex.EncodeToString(sum[:4]) != hash16 {
		return nil, fmt.Errorf("%q: key ID does not match the key", vkey)
	}
	return &cosignatureV1{name, binary.BigEndian.Uint32(sum[:4]), ed25519.PublicKey(key[1:])}, nil
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
	tree, ok := openCheckpoint(in, "note", in.Note)
	if !ok {
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

// openCheckpoint verifies a signed checkpoint with the log's key and every cosigner key, and
// parses its tree size and root hash.
func openCheckpoint(in *input, what, text string) (tlog.Tree, bool) {
	verifier, err := note.NewVerifier(in.VerifierKey)
	if err != nil {
		fail("verifier key: %v", err)
		return tlog.Tree{}, false
	}
	verifiers := []note.Verifier{verifier}
	for _, k := range in.CosignerKeys {
		c, err := newCosignatureV1(k)
		if err != nil {
			fail("cosigner key: %v", err)
			return tlog.Tree{}, false
		}
		verifiers = append(verifiers, c)
	}
	n, err := note.Open([]byte(text), note.VerifierList(verifiers...))
	if err != nil {
		fail("%s: %v", what, err)
		return tlog.Tree{}, false
	}
	for _, v := range verifiers[1:] {
		found := false
		for _, sig := range n.Sigs {
			found = found || (sig.Name == v.Name() && sig.Hash == v.KeyHash())
		}
		if !found {
			fail("%s: no cosignature by %s", what, v.Name())
		}
	}
	// tlog.ParseTree wants the go.sum origin line; swap ours for it and let tlog
	// parse the size and root hash lines of the C2SP checkpoint.
	origin, rest, found := strings.Cut(n.Text, "\n")
	if !found || origin != in.Origin {
		fail("checkpoint origin %q, expected %q", origin, in.Origin)
		return tlog.Tree{}, false
	}
	tree, err := tlog.ParseTree([]byte("go.sum database tree\n" + rest))
	if err != nil {
		fail("checkpoint body: %v", err)
		return tlog.Tree{}, false
	}
	return tree, true
}

// dirTiles reads C2SP tlog-tiles hash tiles from a directory.
type dirTiles struct{ dir string }

func (d dirTiles) Height() int                     { return 8 }
func (d dirTiles) SaveTiles([]tlog.Tile, [][]byte) {}
func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		path := "tile/" + strings.TrimPrefix(t.Path(), "tile/8/")
		data, err := os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(path)))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func checkPublished(in *input) {
	text, err := os.ReadFile(filepath.Join(in.Published, "checkpoint"))
	if err != nil {
		fail("published checkpoint: %v", err)
		return
	}
	tree, ok := openCheckpoint(in, "published checkpoint", string(text))
	if !ok {
		return
	}
	hashes := tlog.TileHashReader(tree, dirTiles{in.Published})
	got, err := tlog.TreeHash(tree.N, hashes)
	if err != nil || got != tree.Hash {
		fail("published tiles: tree hash %v, %v; checkpoint says %v", got, err, tree.Hash)
		return
	}
	// An inclusion proof of one leaf in every level-0 tile, and of the last leaf: every tile
	// is read, and authenticated, at least once.
	for i := int64(0); i < tree.N; i += 251 {
		checkPublishedLeaf(tree, hashes, i)
	}
	checkPublishedLeaf(tree, hashes, tree.N-1)
}

func checkPublishedLeaf(tree tlog.Tree, hashes tlog.HashReader, index int64) {
	proof, err := tlog.ProveRecord(tree.N, index, hashes)
	if err != nil {
		fail("published tiles: proof of leaf %d: %v", index, err)
		return
	}
	leaf, err := hashes.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
	if err != nil {
		fail("published tiles: leaf %d: %v", index, err)
		return
	}
	if err := tlog.CheckRecord(proof, tree.N, tree.Hash, index, leaf[0]); err != nil {
		fail("published tiles: leaf %d: %v", index, err)
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
	if in.Published != "" {
		checkPublished(&in)
	}
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
	fmt.Printf("ok: note, %d cosignature key(s), %d inclusion and %d consistency proofs, published %q\n",
		len(in.CosignerKeys), len(in.Inclusion), len(in.Consistency), in.Published)
}
