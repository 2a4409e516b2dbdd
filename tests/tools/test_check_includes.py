#!/usr/bin/env python3
"""tools/check-includes: passes a tree whose includes point down, fails an upward include and
an include cycle (so the rule tools/test relies on cannot silently stop working).

Run: python3 tests/tools/test_check_includes.py
"""

import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "tools", "check-includes")
LAYERS = ["core", "tls", "http", "registry/api", "registry/config", "registry/upstream",
          "registry/auth", "registry/cache", "registry/serve", "registry/daemon"]


class CheckIncludes(unittest.TestCase):
    def make_tree(self, files):
        tree = tempfile.mkdtemp(prefix="check-includes-")
        self.addCleanup(subprocess.run, ["rm", "-rf", tree])
        for layer in LAYERS:
            os.makedirs(os.path.join(tree, layer))
        for path, includes in files.items():
            with open(os.path.join(tree, path), "w") as out:
                out.write("#pragma once\n")
                for include in includes:
                    out.write('#include "%s"\n' % include)
        return tree

    def run_check(self, tree):
        return subprocess.run([sys.executable, SCRIPT, tree], capture_output=True, text=True,
                              timeout=30)

    def test_a_tree_whose_includes_point_down_passes(self):
        tree = self.make_tree({
            "core/ring.h": [],
            "http/parser.h": ["core/ring.h"],
            "registry/api/route.h": ["http/parser.h"],
            "registry/serve/client.h": ["registry/api/route.h", "registry/cache/store.h"],
            "registry/cache/store.h": ["registry/api/route.h"],
        })
        result = self.run_check(tree)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_an_include_of_a_higher_layer_fails_and_names_the_line(self):
        tree = self.make_tree({
            "registry/serve/worker.h": [],
            "registry/cache/fetch.cc": ["registry/serve/worker.h"],
        })
        result = self.run_check(tree)
        self.assertEqual(result.returncode, 1)
        self.assertIn("registry/cache/fetch.cc:2", result.stderr)
        self.assertIn("a layer above it", result.stderr)

    def test_a_lower_module_including_registry_fails(self):
        tree = self.make_tree({"registry/api/route.h": [], "http/parser.cc": ["registry/api/route.h"]})
        self.assertEqual(self.run_check(tree).returncode, 1)

    def test_an_include_cycle_inside_one_folder_fails(self):
        tree = self.make_tree({
            "registry/config/options.h": ["registry/config/env.h"],
            "registry/config/env.cc": ["registry/config/options.h"],
            "registry/config/env.h": [],
        })
        result = self.run_check(tree)
        self.assertEqual(result.returncode, 1)
        self.assertIn("include cycle", result.stderr)

    def test_a_header_and_its_source_are_one_unit_not_a_cycle(self):
        tree = self.make_tree({
            "registry/cache/store.h": [],
            "registry/cache/store.cc": ["registry/cache/store.h"],
        })
        self.assertEqual(self.run_check(tree).returncode, 0)

    def test_the_project_tree_passes(self):
        result = self.run_check(ROOT)
        self.assertEqual(result.returncode, 0, result.stderr)


if __name__ == "__main__":
    unittest.main()
