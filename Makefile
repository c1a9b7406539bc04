# make packages: the .deb, .rpm, posd.exe and MSI in dist/ (packaging/build.sh).
.PHONY: packages test
packages:
	bash packaging/build.sh
test:
	bash .ci/run
