#include <iostream>

int gcd(int a, int b) {
    while (b != 0) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a < 0 ? -a : a;
}

class Fraction {
public:
    Fraction(int num, int den) : num_(num), den_(den) {
        int g = gcd(num_, den_);
        num_ /= g;
        den_ /= g;
    }
    Fraction operator+(const Fraction& o) const {
        return Fraction(num_ * o.den_ + o.num_ * den_, den_ * o.den_);
    }
    Fraction operator*(const Fraction& o) const {
        return Fraction(num_ * o.num_, den_ * o.den_);
    }
    void print() const { std::cout << num_ << "/" << den_; }

private:
    int num_;
    int den_;
};

int main() {
    Fraction a(1, 2);
    Fraction b(1, 3);
    Fraction c(3, 4);
    Fraction d(2, 3);
    std::cout << "1/2 + 1/3 = ";
    (a + b).print();
    std::cout << std::endl << "3/4 * 2/3 = ";
    (c * d).print();
    std::cout << std::endl << "6/8 reduced = ";
    Fraction(6, 8).print();
    std::cout << std::endl;
    return 0;
}
