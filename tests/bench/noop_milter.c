/* noop_milter - the floor for `make bench`: a libmilter milter that decides nothing.
 *
 * It negotiates away every stage it can (as route-milter does) and answers nothing, so the
 * MTA pays only for the milter protocol itself. Plain dynamic libmilter: no TCP_QUICKACK.
 *
 *   noop-milter SOCKET      e.g. unix:/tmp/noop.sock or inet:9999@127.0.0.1
 */
#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static sfsistat negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2, unsigned long f3,
                          unsigned long *pf0, unsigned long *pf1, unsigned long *pf2, unsigned long *pf3) {
    (void)ctx; (void)f0; (void)f2; (void)f3; (void)pf2; (void)pf3;
    *pf0 = 0;
    *pf1 = f1 & (SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL | SMFIP_NORCPT | SMFIP_NOHDRS | SMFIP_NOEOH |
                 SMFIP_NOBODY | SMFIP_NODATA | SMFIP_NOUNKNOWN | SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL |
                 SMFIP_NR_RCPT | SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_EOH | SMFIP_NR_BODY | SMFIP_NR_HDR);
    return SMFIS_CONTINUE;
}

int main(int argc, char **argv) {
    struct smfiDesc desc;
    if (argc != 2) {
        fprintf(stderr, "usage: noop-milter SOCKET\n");
        return 64;
    }
    memset(&desc, 0, sizeof desc);
    desc.xxfi_name = "noop-milter";
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_negotiate = negotiate;
    umask(0);
    if (smfi_register(desc) != MI_SUCCESS || smfi_setconn(argv[1]) != MI_SUCCESS ||
        smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "noop-milter: cannot listen on %s\n", argv[1]);
        return 69;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
