#include <iostream>

const unsigned int READ = 1u << 0;
const unsigned int WRITE = 1u << 1;
const unsigned int EXECUTE = 1u << 2;

void show(unsigned int flags) {
    std::cout << ((flags & READ) ? 'r' : '-')
              << ((flags & WRITE) ? 'w' : '-')
              << ((flags & EXECUTE) ? 'x' : '-')
              << " (" << flags << ")" << std::endl;
}

int main() {
    unsigned int flags = 0;
    show(flags);
    flags |= READ;
    show(flags);
    flags |= WRITE | EXECUTE;
    show(flags);
    flags &= ~WRITE;
    show(flags);
    flags ^= READ;
    show(flags);
    return 0;
}
