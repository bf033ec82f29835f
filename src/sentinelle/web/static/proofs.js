/* Sentinelle console: checks every proof of a merchant's accesses page in the browser, so the
   merchant need not take the server's word for it. No dependency, no network but this origin.

   For each row (<tr data-leaf-index data-proof and data-event or data-leaf-hash>):
   1. the leaf hash is SHA-256(0x00 || the stored canonical event, UTF-8), from the event's
      text as stored (data-event); a row whose text is withheld (it names a staff member)
      gives its leaf hash instead (data-leaf-hash), and is said to be checked by hash only;
   2. the inclusion proof is walked to a root (RFC 9162 section 2.1.3.2);
   3. that root must be the root of the checkpoint below the table, a C2SP signed note whose
      Ed25519 signature is checked with WebCrypto against the verifier key: the one pasted
      in the form (remembered in this browser), else the server's GET /v1/ledger/key.
   Each row then says "verified" or "FAILED: why"; the hashes stay in the row's details. */
"use strict";
(function () {
  var encoder = new TextEncoder();
  var PINNED = "sentinelle.verifierKey";
  var SIG_PREFIX = "\u2014 ";  // EM DASH, space: a signed note's signature line

  function fail(message) { throw new Error(message); }

  function fromHex(text, what) {
    if (!/^([0-9a-f]{2})*$/.test(text)) { fail(what + " is not hex"); }
    var out = new Uint8Array(text.length / 2);
    for (var i = 0; i < out.length; i++) { out[i] = parseInt(text.substr(i * 2, 2), 16); }
    return out;
  }

  function toHex(bytes) {
    return Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("");
  }

  function fromBase64(text, what) {
    var binary;
    try { binary = atob(text); } catch (e) { fail(what + " is not base64"); }
    var out = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { out[i] = binary.charCodeAt(i); }
    if (btoa(binary) !== text) { fail(what + " is not canonical base64"); }
    return out;
  }

  function concat(parts) {
    var size = parts.reduce(function (n, p) { return n + p.length; }, 0);
    var out = new Uint8Array(size), at = 0;
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }

  function same(a, b) {
    if (a.length !== b.length) { return false; }
    for (var i = 0; i < a.length; i++) { if (a[i] !== b[i]) { return false; } }
    return true;
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  function leafHash(text) { return sha256(concat([new Uint8Array([0]), encoder.encode(text)])); }

  function nodeHash(left, right) { return sha256(concat([new Uint8Array([1]), left, right])); }

  /* RFC 9162 2.1.3.2, with arithmetic rather than 32-bit bitwise operators (trees may pass
     2^31 leaves; indexes stay exact up to 2^53). */
  async function rootFromProof(leaf, index, size, proof) {
    if (!(index >= 0 && index < size)) { fail("leaf " + index + " is not in a tree of " + size); }
    var fn = index, sn = size - 1, r = leaf;
    for (var i = 0; i < proof.length; i++) {
      if (sn === 0) { fail("the proof is too long"); }
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(proof[i], r);
        while (fn !== 0 && fn % 2 === 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await nodeHash(r, proof[i]);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) { fail("the proof is too short"); }
    return r;
  }

  /* A C2SP signed-note verifier key: <name>+<8 hex key id>+<base64(0x01 || public key)>. */
  async function parseKey(text) {
    text = text.trim();
    var first = text.indexOf("+"), second = text.indexOf("+", first + 1);
    if (first <= 0 || second < 0) { fail("the verifier key is not name+id+key"); }
    var name = text.slice(0, first), id = text.slice(first + 1, second);
    if (!/^[0-9a-f]{8}$/.test(id)) { fail("the verifier key's id is not 8 hex digits"); }
    var raw = fromBase64(text.slice(second + 1), "the verifier key");
    if (raw.length !== 33 || raw[0] !== 1) { fail("the verifier key is not an Ed25519 key"); }
    var keyId = (await sha256(concat([encoder.encode(name + "\n"), raw]))).slice(0, 4);
    if (toHex(keyId) !== id) { fail("the verifier key's id does not match its key"); }
    var key = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false,
      ["verify"]);
    return { name: name, id: keyId, key: key };
  }

  /* Check the note's signature by the key; return its checkpoint (origin, size, root). */
  async function openCheckpoint(note, key) {
    var split = note.lastIndexOf("\n\n");
    if (split < 0) { fail("the checkpoint has no signature"); }
    var body = note.slice(0, split + 1), block = note.slice(split + 2);
    if (!block.endsWith("\n")) { fail("the checkpoint's signatures do not end with a newline"); }
    var signed = false;
    var lines = block.slice(0, -1).split("\n");
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      if (!line.startsWith(SIG_PREFIX)) { fail("the checkpoint has a line that is not a signature"); }
      var rest = line.slice(SIG_PREFIX.length), space = rest.indexOf(" ");
      if (space < 0 || rest.slice(0, space) !== key.name) { continue; }
      var raw = fromBase64(rest.slice(space + 1), "a signature");
      if (raw.length !== 68 || !same(raw.slice(0, 4), key.id)) { continue; }
      var good = await crypto.subtle.verify({ name: "Ed25519" }, key.key, raw.slice(4),
        encoder.encode(body));
      if (!good) { fail("its signature by " + key.name + " does not verify: the checkpoint was changed or signed by another key"); }
      signed = true;
    }
    if (!signed) { fail("it carries no signature by the key " + key.name); }
    var fields = body.slice(0, -1).split("\n");
    if (fields.length < 3 || !/^(0|[1-9][0-9]*)$/.test(fields[1])) { fail("it is not a checkpoint"); }
    var root = fromBase64(fields[2], "its root hash");
    if (root.length !== 32) { fail("its root hash is not 32 bytes"); }
    return { origin: fields[0], size: Number(fields[1]), root: root };
  }

  function say(el, ok, text, detail) {
    el.textContent = text;
    el.classList.toggle("ok", ok);
    el.classList.toggle("failed", !ok);
    if (detail) { el.title = detail; } else { el.removeAttribute("title"); }
  }

  async function checkRow(row, checkpoint) {
    var out = row.querySelector("output.check");
    var text = row.getAttribute("data-event");
    try {
      var proof = (row.getAttribute("data-proof") || "").split(" ").filter(Boolean)
        .map(function (h) { return fromHex(h, "a proof hash"); });
      var leaf = text !== null ? await leafHash(text)
        : fromHex(row.getAttribute("data-leaf-hash") || "", "the leaf hash");
      if (leaf.length !== 32 || proof.some(function (h) { return h.length !== 32; })) {
        fail("a hash is not 32 bytes");
      }
      var index = Number(row.getAttribute("data-leaf-index"));
      if (checkpoint === null) { fail("the checkpoint is not verified"); }
      var root = await rootFromProof(leaf, index, checkpoint.size, proof);
      if (!same(root, checkpoint.root)) {
        fail(text !== null
          ? "this event is not the one the signed log holds at leaf " + index + " (it was changed)"
          : "leaf " + index + " of the signed log is not this entry");
      }
      if (text !== null) {
        say(out, true, "verified", "The event's text hashes to leaf " + index +
          ", whose proof leads to the signed checkpoint's root.");
      } else {
        say(out, true, "verified (by hash)", "Leaf " + index + " of the signed log has this " +
          "hash; the event's text is withheld because it names the staff member, so the " +
          "columns shown cannot be checked against it.");
      }
      return true;
    } catch (e) {
      say(out, false, "FAILED: " + e.message);
      return false;
    }
  }

  async function keyText(form) {
    var input = form.querySelector("#verifier-key");
    if (input.value.trim()) { return { text: input.value, from: "the key you gave" }; }
    var pinned = window.localStorage && localStorage.getItem(PINNED);
    if (pinned) { input.value = pinned; return { text: pinned, from: "the key you gave earlier" }; }
    var answer = await fetch("/v1/ledger/key", { credentials: "same-origin",
      headers: { Accept: "application/json" } });
    if (!answer.ok) { fail("the verifier key could not be fetched (HTTP " + answer.status + ")"); }
    var text = (await answer.json()).verifier_key;
    input.value = text;
    return { text: text, from: "the key this server publishes" };
  }

  async function checkAll(form) {
    var status = document.getElementById("checkpoint-check");
    var table = document.getElementById("proofs");
    var rows = table ? table.querySelectorAll("tbody tr[data-leaf-index]") : [];
    var summary = document.getElementById("proof-summary");
    var checkpoint = null;
    if (!window.crypto || !crypto.subtle) {
      say(status, false, "Checkpoint not checked: this browser offers its cryptography only " +
        "to pages served over HTTPS.");
      return;
    }
    try {
      var given = await keyText(form);
      var key = await parseKey(given.text);
      checkpoint = await openCheckpoint(document.getElementById("checkpoint-note").textContent, key);
      if (table && checkpoint.size !== Number(table.getAttribute("data-size"))) {
        fail("it is of size " + checkpoint.size + ", not the size the rows are proven against");
      }
      say(status, true, "Checkpoint verified: signed by " + key.name + " (key " + toHex(key.id) +
        ", " + given.from + ") for the log " + checkpoint.origin + " of " + checkpoint.size +
        " entries.");
    } catch (e) {
      checkpoint = null;
      say(status, false, "Checkpoint FAILED: " + e.message + ".");
    }
    var good = 0;
    for (var i = 0; i < rows.length; i++) {
      if (await checkRow(rows[i], checkpoint)) { good += 1; }
    }
    if (summary && rows.length) {
      var all = good === rows.length;
      say(summary, all, all
        ? "All " + rows.length + " accesses on this page verified against the signed checkpoint."
        : (rows.length - good) + " of " + rows.length + " accesses on this page FAILED their check.");
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("verify-form");
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var value = form.querySelector("#verifier-key").value.trim();
      if (value && window.localStorage) { localStorage.setItem(PINNED, value); }
      checkAll(form);
    });
    checkAll(form);
  });
})();
