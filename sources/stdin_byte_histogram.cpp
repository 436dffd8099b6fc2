#include <cstdio>
#include <unistd.h>

// Reads raw bytes from file descriptor 0 with read(2) until end of
// input and counts letters, digits, spaces, newlines and other bytes.
int main() {
    unsigned char buf[128];
    long letters = 0, digits = 0, spaces = 0, newlines = 0, other = 0, total = 0;
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            unsigned char c = buf[i];
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) letters++;
            else if (c >= '0' && c <= '9') digits++;
            else if (c == ' ') spaces++;
            else if (c == '\n') newlines++;
            else other++;
        }
        total += n;
    }
    std::printf("bytes: %ld\n", total);
    std::printf("letters: %ld\ndigits: %ld\nspaces: %ld\nnewlines: %ld\nother: %ld\n", letters, digits, spaces, newlines, other);
    return 0;
}
