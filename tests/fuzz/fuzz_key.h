/* fuzz_key.h - a fixed RSA-2048 test key for the JWT harnesses (test-only, never deployed):
 * the JWKS holds its public half, and the harness signs fuzzed claims with it. */
#ifndef MOONBASE_FUZZ_KEY_H
#define MOONBASE_FUZZ_KEY_H

#define FZ_KEY_KID "fuzz-key-1"
#define FZ_KEY_N                                                                                   \
    "x4fiSNmKnPID5G5Y4imYrfhmkRXV_fMiNSqu399deBLGSkz4mqafYyxw94ES1ALUETi4xOWK0JREElSqVVztfbBy5b-"  \
    "KGIsMVRH3wkiETS5Y4wR6LLz8HUXjb5q4xN2LdCp9lIhaI1nsfsVhk3dzb1HjubiFdPcYKSaAgFdRwoj9Olureeowkn_" \
    "lxh1px0xX1QF8ioJqAVfzmsVjCci2OhLRAQyPBmXWm2cdrycJOYxbEq34ihgX_BGSjAmdG9bWKrVa8Fyo-"           \
    "1N70y8lXsIL5H1AHE4x4iXTFuRxcHYhtqvwPn_q657hZ2GYUnoWZH-0TVmLm6FIhC4pRo_5vi7g_Q"
#define FZ_KEY_E "AQAB"

static const char fz_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDHh+JI2Yqc8gPk\n"
    "bljiKZit+GaRFdX98yI1Kq7f3114EsZKTPiapp9jLHD3gRLUAtQROLjE5YrQlEQS\n"
    "VKpVXO19sHLlv4oYiwxVEffCSIRNLljjBHosvPwdReNvmrjE3Yt0Kn2UiFojWex+\n"
    "xWGTd3NvUeO5uIV09xgpJoCAV1HCiP06W6t56jCSf+XGHWnHTFfVAXyKgmoBV/Oa\n"
    "xWMJyLY6EtEBDI8GZdabZx2vJwk5jFsSrfiKGBf8EZKMCZ0b1tYqtVrwXKj7U3vT\n"
    "LyVewgvkfUAcTjHiJdMW5HFwdiG2q/A+f+rrnuFnYZhSehZkf7RNWYuboUiELilG\n"
    "j/m+LuD9AgMBAAECggEABWslhERyHPZ+kBDGFag7Bvhwsp507/9PDcIRuy8p7uWV\n"
    "oHVsJ+j/+ZW+oJ4O+JZ2E1ymueQg666nFZdag9Rw96GX0TDtK2L1TAcfoxVMkHsC\n"
    "e3HG7pmYQCRCe6ioPWJl09sGi4bTadPalgu+rV5IUnzXEhdWenluXMm4oiOc6ws4\n"
    "gtNtN6rFmpwV0ZbUmXC2jIGJI0nOSIYPpD7kobvV9JCgsWFMqNDrJmZTLVXMoKdR\n"
    "WZK22aUCl8NAEowCRCFkQTDl/jzQFw5rXAyOW9+9pzVHd8zgrYXW2cpRwCVvdbmk\n"
    "rcWSAHWwmX66Gb5i4PdZVGj3C7De4k+WlxdSsbf+2QKBgQD0twgaZPPhT0ZemtZ+\n"
    "xfDZZvRdxMIOaiK7HYHtbzjQWyQRs4n5B2VBqJvpOPqKjSp3R07ooEIATI+e3MYa\n"
    "sxkwtWLQbcF8k9FmjMsVwCzcqRxzs7javn+0sYtYGUfDAJ+0Iu1JXs6qwMqbS5Pp\n"
    "v+NVmuGr9fWPuPSbIBJPPOOPCQKBgQDQu27j4nCSKllc7UKlx3PgWox4X9k7W+Vm\n"
    "wwVo7XRu5KNo47dxDGd39Gpjp3p/ZjtpeU0X2E7P+lPEUYEHMJWacU8P+XtyCrrN\n"
    "5hDc0WFKSAKFjkF8DHPBvnf7m0NIkpOH0OI+S7vjMlsQqlb2sCg/hLh233iA/l00\n"
    "ukylt2MLVQKBgApcoaw0cBsvNySUW9a8XOlnsZsy1KC1n8jahADgv8Aay9kwB/yS\n"
    "cpgoIonqjrlFJvIsA8xX1NOcakxovr6srLliRM/chd/XhntYJNVD8OJbCshfaMli\n"
    "XZfyGJtfXqmEIj8HZ5K+v/N8/Fc9CQNRy7d5OmsEnCQ8yaaz4fKW+m+5AoGAP7CB\n"
    "VH16dc8AN2+Zv3XNcK6QYAZ3BTq0E5f8JZkWxuNyzQV2qsLrK1njwIaQxSDPjg5a\n"
    "LKVu3tz2BFgOM8BqVZavViN8vD5z43GIwagNtJmmU1QlvREbnQleGOK2NAWtiGp/\n"
    "Lhzzto5d5QbkxB7aGQ+JLZRgc5OpovYZfxMm4IUCgYAi6tmWZ3E4s9esBU9UTTz7\n"
    "u2jCT4gfRg75aX5+uapRys1WhErYz6azMTmeOb6ZfVhOLp57je0oZWItS+UiYWYb\n"
    "BbddPmW3thsqbYFY5DR1C6/C311mdewbQfEJYNgcgUZ03449VdbuEFnHfuTfG8XV\n"
    "kYZl6J/xV8A89n1migm/aA==\n"
    "-----END PRIVATE KEY-----\n";

#endif
