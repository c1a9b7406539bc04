/* A TEST FIXTURE, never shipped and never in the MSI: Go 1.24+ on Windows
 * needs ProcessPrng from bcryptprimitives.dll, which Wine 8.0 lacks, so the
 * Windows build dies before main under Wine. This DLL, copied into a test
 * Wine prefix's system32, provides it over BCryptGenRandom. Real Windows
 * (10 and later) has its own. */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
