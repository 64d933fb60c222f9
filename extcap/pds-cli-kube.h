/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podscope tap -n NS -l SEL ... (Kubernetes mode of tap) and podscope clean.
 */
#pragma once

#include <glib.h>

/* TRUE when tap's arguments ask for Kubernetes mode (-n, -l, -A, --kubeconfig, ...). */
gboolean pds_cli_kube_wants_kube(int argc, char **argv);
int pds_cli_kube_tap_main(int argc, char **argv);
/* "podscope tap": Kubernetes mode when pds_cli_kube_wants_kube(), else local. */
int pds_cli_kube_tap_dispatch(int argc, char **argv);
int pds_cli_kube_clean_main(int argc, char **argv);
