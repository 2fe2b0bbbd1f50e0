// Runs a Python file under real MicroPython (the official WebAssembly port, installed by
// `make micropython`) with a folder mounted at /w:
//   node tools/micropython/run.mjs FOLDER SCRIPT.py
// Every file of FOLDER is copied into MicroPython's file system at /w, SCRIPT.py runs there (the
// player module and pack files import and open as on a board), and whatever the script writes to
// /w/out.bin is copied back to FOLDER/out.bin. Exit status 1 when the script raises.
import fs from "fs";
import path from "path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const [folder, script] = process.argv.slice(2);
if (!folder || !script) {
  console.error("usage: node run.mjs FOLDER SCRIPT.py");
  process.exit(2);
}
const mp = await loadMicroPython({ stdout: (l) => console.log(l), stderr: (l) => console.error(l), heapsize: 8 * 1024 * 1024 });
mp.FS.mkdir("/w");
for (const name of fs.readdirSync(folder)) {
  const p = path.join(folder, name);
  if (fs.statSync(p).isFile()) mp.FS.writeFile("/w/" + name, fs.readFileSync(p));
}
try {
  mp.runPython("import os, sys\nos.chdir('/w')\nsys.path.insert(0, '/w')\n");
  mp.runPython(fs.readFileSync(script, "utf8"));
} catch (e) {
  console.error(String(e.message || e));
  process.exit(1);
}
try {
  fs.writeFileSync(path.join(folder, "out.bin"), mp.FS.readFile("/w/out.bin"));
} catch (e) {
  // the script wrote no out.bin
}
