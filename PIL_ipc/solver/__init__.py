"""The inpainting problem: the decoded image is the solution of the format's PDE (1-D diffusion
along the edge band, Laplace elsewhere) with the stored pixels fixed; the operator, its
multigrid hierarchy, the solvers and their error certificate, and their numba kernels."""
