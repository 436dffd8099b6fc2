#include <iostream>

int gcd(int a, int b) {
    if (b == 0) {
        return a;
    }
    return gcd(b, a % b);
}

int lcm(int a, int b) {
    return a / gcd(a, b) * b;
}

int main() {
    int pairs[3][2] = {{48, 18}, {270, 192}, {17, 5}};
    for (int i = 0; i < 3; ++i) {
        int a = pairs[i][0];
        int b = pairs[i][1];
        std::cout << "gcd(" << a << ", " << b << ") = " << gcd(a, b)
                  << ", lcm = " << lcm(a, b) << std::endl;
    }
    return 0;
}
