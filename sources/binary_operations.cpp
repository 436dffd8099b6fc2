#include <iostream>
#include <string>

std::string toBinary(unsigned int value) {
    std::string bits;
    for (int i = 7; i >= 0; --i) {
        bits += ((value >> i) & 1u) ? '1' : '0';
    }
    return bits;
}

int main() {
    unsigned int a = 12;
    unsigned int b = 10;
    std::cout << "a      = " << toBinary(a) << " (" << a << ")" << std::endl;
    std::cout << "b      = " << toBinary(b) << " (" << b << ")" << std::endl;
    std::cout << "a & b  = " << toBinary(a & b) << " (" << (a & b) << ")" << std::endl;
    std::cout << "a | b  = " << toBinary(a | b) << " (" << (a | b) << ")" << std::endl;
    std::cout << "a ^ b  = " << toBinary(a ^ b) << " (" << (a ^ b) << ")" << std::endl;
    std::cout << "a << 3 = " << toBinary(a << 3) << " (" << (a << 3) << ")" << std::endl;
    std::cout << "a >> 2 = " << toBinary(a >> 2) << " (" << (a >> 2) << ")" << std::endl;
    std::cout << "~a     = " << toBinary(~a & 0xFFu) << " (" << (~a & 0xFFu) << ")" << std::endl;
    return 0;
}
